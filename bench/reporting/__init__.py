"""`bench report`: one static HTML page of a records folder (plots, tables, provenance, a diff).

points.py turns records (and the tables' published figures, published.py) into plot points;
figures.py draws them with matplotlib; sections.py and page.py write the page. Everything is
read from stored records only (DESIGN principle 6), and the page needs no server or network.
"""
