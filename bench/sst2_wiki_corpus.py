#!/usr/bin/env python3
"""Writes the unlabeled corpus SST-2 train sentences + WikiText-2 (the issue's "plus WikiText-2"):
OUT/sst2-train.txt, the train sentences one per line (labels dropped), and OUT/wikitext2.txt,
WikiText-2's text in SST-2's style (lower-cased, one sentence per line, headings dropped,
"@-@"-style joins undone), so that the tokenizer trained on SST-2 reads both the same way.

    python3 bench/sst2_wiki_corpus.py --data ../shared/data/text --out cache/sst2-wiki
"""
import argparse
import pathlib
import re

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="folder holding sst2/ and wikitext2/")
parser.add_argument("--out", required=True)
args = parser.parse_args()
data = pathlib.Path(args.data)
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

with open(data / "sst2" / "train.tsv", encoding="utf-8") as f:
    header = f.readline().rstrip("\n").split("\t")
    column = header.index("sentence")
    sentences = [line.rstrip("\n").split("\t")[column] for line in f if line.strip()]
(out / "sst2-train.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")

wiki = []
for paragraph in (data / "wikitext2" / "wiki.test.raw").read_text(encoding="utf-8").splitlines():
    paragraph = paragraph.strip()
    if not paragraph or paragraph.startswith("="):
        continue
    paragraph = re.sub(r" @(.)@ ", r"\1", paragraph.lower())
    for sentence in paragraph.split(" . "):
        sentence = sentence.strip()
        if len(sentence.split()) >= 3:
            wiki.append(sentence if sentence.endswith(".") else sentence + " .")
(out / "wikitext2.txt").write_text("\n".join(wiki) + "\n", encoding="utf-8")
print(f"{out}: {len(sentences)} SST-2 train sentences, {len(wiki)} WikiText-2 sentences")
