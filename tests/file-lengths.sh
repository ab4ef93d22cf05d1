#!/usr/bin/env bash
# Fails when a file under src/ has more than 450 lines, so that no module grows
# past what one reading takes in. Prints each such file with its length and exits
# 1, or prints how many files were checked and exits 0. Run by `make lint`.
#
#   tests/file-lengths.sh [SRC_DIR]     (default: the repository's src/)
#
# Environment: MAX_LINES (default 450).
set -u
cd "$(dirname "$0")/.."
src=${1:-src}
max=${MAX_LINES:-450}
checked=0
over=0
while IFS= read -r -d '' file; do
    lines=$(wc -l <"$file")
    checked=$((checked + 1))
    if [ "$lines" -gt "$max" ]; then
        echo "$file: $lines lines, more than $max"
        over=$((over + 1))
    fi
done < <(find "$src" -type f -print0 | sort -z)
if [ "$over" -gt 0 ]; then
    echo "$over of $checked files under $src have more than $max lines"
    exit 1
fi
echo "all $checked files under $src have at most $max lines"
