"""Translation tasks: parallel files in both directions, sacreBLEU scores, clear offline errors."""

from __future__ import annotations

import pytest

from bench.errors import UsageError
from bench.registry import TASKS

PAIRS = [("a man sleeps .", "ein mann schläft ."), ("two dogs run .", "zwei hunde rennen ."),
         ("the cat is red .", "die katze ist rot .")]


@pytest.fixture
def multi30k_dir(tmp_path):
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for stem in ("train", "val", "test_2016_flickr"):
        (folder / f"{stem}.en").write_text("".join(f"{en}\n" for en, _ in PAIRS), encoding="utf-8")
        (folder / f"{stem}.de").write_text("".join(f"{de}\n" for _, de in PAIRS), encoding="utf-8")
    return tmp_path


def test_both_directions_read_the_same_files(multi30k_dir):
    en_de = TASKS.get("mt-multi30k-en-de").obj.load("train", str(multi30k_dir))
    de_en = TASKS.get("mt-multi30k-de-en").obj.load("train", str(multi30k_dir))
    assert [(e.text_a, e.label) for e in en_de] == PAIRS
    assert [(e.label, e.text_a) for e in de_en] == PAIRS
    assert TASKS.get("mt-multi30k-en-de").obj.data_files("test", str(multi30k_dir))[0].name == "test_2016_flickr.en"


def test_scores_are_sacrebleu_on_its_0_to_100_scale():
    import sacrebleu

    task = TASKS.get("mt-multi30k-en-de").obj
    references = [de for _, de in PAIRS]
    hypotheses = ["ein mann schläft .", "zwei hunde laufen .", "die katze ist blau ."]
    scores = task.score(hypotheses, references)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score)
    assert 0 < scores["bleu"] < 100 and 0 < scores["chrf"] < 100
    assert task.score(references, references)["bleu"] == pytest.approx(100)
    assert task.metric_signatures()["bleu"].startswith("nrefs:1|")


def test_misaligned_files_are_a_usage_error(multi30k_dir):
    (multi30k_dir / "multi30k" / "val.de").write_text("nur eine zeile\n", encoding="utf-8")
    with pytest.raises(UsageError, match="must be aligned"):
        TASKS.get("mt-multi30k-en-de").obj.load("val", str(multi30k_dir))


def test_wmt14_training_data_offline_names_the_dev_and_test_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "wmt14_en_de"
    folder.mkdir()
    for stem in ("newstest2013", "newstest2014"):
        for language in ("en", "de"):
            (folder / f"{stem}.{language}").write_text("x\n", encoding="utf-8")
    task = TASKS.get("mt-wmt14-en-de").obj
    assert len(task.load("test", str(tmp_path))) == 1
    with pytest.raises(UsageError, match=r"holds only the dev, test splits \(newstest2013.en, newstest2014.en\)"):
        task.load("train", str(tmp_path))
