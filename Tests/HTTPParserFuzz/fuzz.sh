#!/usr/bin/env bash
# Builds the libFuzzer target for HTTPRequestParser and runs it.
#   bash Tests/HTTPParserFuzz/fuzz.sh [seconds]    fuzz for that long (default 60) from the corpus
#   bash Tests/HTTPParserFuzz/fuzz.sh regress      run every past crasher and seed once (CI)
# SwiftPM cannot link a libFuzzer executable (undefined <target>_main), so the sources are compiled with
# swiftc directly. New crashers are written to crashers/; each one found becomes a test in
# Tests/HTTPCoreTests/HTTPParserCrasherTests.swift.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sources="$here/../../Sources/HTTPCore/HTTP"
build="$here/.build-fuzz"
mkdir -p "$build"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
    "$here/FuzzParser.swift" \
    "$sources/HTTPRequestParser.swift" "$sources/HTTPParserLimits.swift" "$sources/HTTPParserError.swift" \
    "$sources/HTTPRequest.swift" "$sources/HTTPHeaders.swift" "$sources/HTTPStatus.swift" \
    -o "$build/fuzz-parser" 2> >(grep -v "Cannot export local symbol" >&2)

if [ "${1:-}" = "regress" ]; then
    "$build/fuzz-parser" -runs=0 "$here/crashers" "$here/corpus"
    exit 0
fi
seconds="${1:-60}"
mkdir -p "$build/corpus"
cp -n "$here"/corpus/* "$build/corpus/" 2>/dev/null || true
cd "$build"
"$build/fuzz-parser" -max_total_time="$seconds" -max_len=2048 -dict="$here/http.dict" \
    -artifact_prefix="$here/crashers/" "$build/corpus"
