"""The original GLUE file layouts (extra columns around the ones the loader reads), for tests
that write tiny GLUE downloads."""

from pathlib import Path

MNLI_HEADER = [
    "index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
    "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label",
]
STSB_HEADER = [
    "index", "genre", "filename", "year", "old_index", "source1", "source2",
    "sentence1", "sentence2", "score",
]
LAYOUTS = {
    "CoLA": (None, lambda a, b, y: ["gj04", y, "" if y == "1" else "*", a]),
    "SST-2": (["sentence", "label"], lambda a, b, y: [a, y]),
    "MRPC": (["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
             lambda a, b, y: [y, "1355540", "1355592", a, b]),
    "STS-B": (STSB_HEADER, lambda a, b, y: ["0", "main-captions", "MSRvid", "2012test",
                                            "0000", "none", "none", a, b, y]),
    "QQP": (["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
            lambda a, b, y: ["7", "15", "16", a, b, y]),
    "MNLI": (MNLI_HEADER, lambda a, b, y: ["0", "31193", "31193n", "fiction", "( ( a ) )",
                                          "( b )", "(ROOT (S a))", "(ROOT (S b))", a, b, y, y]),
    "QNLI": (["index", "question", "sentence", "label"], lambda a, b, y: ["0", a, b, y]),
    "RTE": (["index", "sentence1", "sentence2", "label"], lambda a, b, y: ["0", a, b, y]),
    "WNLI": (["index", "sentence1", "sentence2", "label"], lambda a, b, y: ["0", a, b, y]),
}


def write_split(path: Path, folder: str, rows) -> None:
    """One split file: the folder's header (CoLA has none), then (text_a, text_b, label) rows."""
    header, build = LAYOUTS[folder]
    lines = [header] if header else []
    lines += [build(a, b or "", y) for a, b, y in rows]
    text = "".join("\t".join(fields) + "\n" for fields in lines)
    if folder == "MRPC":
        text = "\ufeff" + text  # the original MRPC files start with a BOM
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
