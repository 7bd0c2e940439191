#!/usr/bin/env python3
"""Writes the unlabeled corpus SST-2 train sentences + WikiText-2 (the issue's "plus WikiText-2"):
OUT/sst2-train.txt, the train sentences one per line (labels dropped), and OUT/wikitext2.txt,
WikiText-2's text in SST-2's style (lower-cased, one sentence per line, headings dropped,
"@-@"-style joins undone), so that the tokenizer trained on SST-2 reads both the same way.
With --shakespeare it also writes OUT/tinyshakespeare.txt: each speech's sentences one per line,
lower-cased, speaker names dropped.

    python3 bench/sst2_wiki_corpus.py --data ../shared/data/text --out cache/sst2-wiki
    python3 bench/sst2_wiki_corpus.py --data ../shared/data/text --out cache/sst2-wiki-shakespeare --shakespeare
"""
import argparse
import pathlib
import re

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True, help="folder holding sst2/ and wikitext2/")
parser.add_argument("--out", required=True)
parser.add_argument("--shakespeare", action="store_true", help="add tinyshakespeare.txt")
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

if args.shakespeare:
    play = []
    for speech in (data / "tinyshakespeare.txt").read_text(encoding="utf-8").split("\n\n"):
        lines = speech.strip().splitlines()
        if len(lines) < 2 or not lines[0].endswith(":"):
            continue
        text = " ".join(line.strip() for line in lines[1:]).lower()
        play.extend(s for s in re.split(r"(?<=[.?!])\s+", text) if len(s.split()) >= 3)
    (out / "tinyshakespeare.txt").write_text("\n".join(play) + "\n", encoding="utf-8")
    print(f"{out}: {len(play)} tinyshakespeare sentences")
