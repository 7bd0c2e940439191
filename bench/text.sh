#!/usr/bin/env bash
# Issue 6's tables: the character-level GPT on tinyshakespeare, then for SST-2, AG News and SMS
# spam masked-language-model pre-training on their train texts, fine-tuning and the linear probe
# at 1%, 10% and 100% of the train labels beside the same Transformer trained from scratch (SST-2's
# 1% share over five label draws), and search precision@10 on SST-2's test sentences.
#
# bench/text.sh [--data DIR] [--out DIR] [--skip-clm]
# DIR defaults to $AUTODIDACT_DATA or ../shared/data; results go to runs/text-bench/*.json.
set -euo pipefail
data="${AUTODIDACT_DATA:-../shared/data}"
out="runs/text-bench"
clm=1
while [ $# -gt 0 ]; do
    case "$1" in
        --data) data="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --skip-clm) clm=0; shift ;;
        *) echo "bench/text.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
text="$data/text"
bin="cargo run --release --quiet --"
mkdir -p "$out"

if [ "$clm" = 1 ]; then
    $bin pretrain --recipe recipes/tinyshakespeare-clm.toml --data "$text/tinyshakespeare.txt" \
        --out "$out/shakespeare-clm" --force --log-every 100
    $bin generate --run "$out/shakespeare-clm" --prompt "ROMEO:" --tokens 400 --seed 0 \
        | tee "$out/shakespeare-sample.txt"
fi

evaluate() { # run data json
    $bin eval --run "$1" --data "$2" --protocol finetune,linear \
        --labels-fraction 0.01,0.1,1 --baseline --json "$3"
}
run_labelled() { # name recipe data-for-pretrain data-for-eval
    local name="$1" recipe="$2" pre="$3" eval="$4"
    $bin pretrain --recipe "$recipe" --data "$pre" --out "$out/$name-mlm" --force --log-every 200
    evaluate "$out/$name-mlm" "$eval" "$out/$name.json"
}
# SST-2: two stages of MLM (5,000 steps, then 3,000 more at a lower rate).
$bin pretrain --recipe recipes/sst2-mlm.toml --data "$text/sst2" --out "$out/sst2-mlm" --force \
    --log-every 200
$bin pretrain --recipe recipes/sst2-stage2-mlm.toml --data "$text/sst2" --init "$out/sst2-mlm" \
    --out "$out/sst2-mlm-8k" --force --log-every 200
evaluate "$out/sst2-mlm-8k" "$text/sst2" "$out/sst2.json"
for s in 1 2 3 4; do # four more draws of the 1% labels
    $bin eval --run "$out/sst2-mlm-8k" --data "$text/sst2" --protocol finetune \
        --labels-fraction 0.01 --baseline --seed "$s" --json "$out/sst2-1pct-seed$s.json"
done
$bin search --run "$out/sst2-mlm-8k" --corpus "$text/sst2/test.tsv" --evaluate -k 10 \
    --json "$out/sst2-search.json"
run_labelled ag_news recipes/ag_news-mlm.toml "$text/ag_news/test.csv" "$text/ag_news/test.csv"
run_labelled sms_spam recipes/sms_spam-mlm.toml "$text/sms_spam/SMSSpamCollection" \
    "$text/sms_spam/SMSSpamCollection"
echo "results in $out"
