#!/usr/bin/env bash
# libFuzzer targets, one folder each under Tests/Fuzz/: Fuzz.swift (the entry point), corpus/ (seeds and
# what fuzzing found worth keeping) and crashers/ (every input that ever crashed; each is also a test).
#   bash Tests/Fuzz/fuzz.sh TARGET [seconds]   fuzz TARGET for that long (default 60) from its corpus
#   bash Tests/Fuzz/fuzz.sh TARGET regress     replay its corpus and crashers once (CI)
#   bash Tests/Fuzz/fuzz.sh all regress        every target
# Targets: parser (HTTPRequestParser), json (JSONParser, JSONWriter and the fast request reader against the
# full one), inference (inference requests, JSON and binary tensors), gzip (inflation with its limit),
# connection (a live Connection over a socketpair: random pieces, pauses and half-closes), pictures (the
# PNG, JPEG and PGM decoders with libpng and libjpeg-turbo instrumented through our C shim, the Exif reader,
# the 20x20 preparation and the multipart framing).
# SwiftPM cannot link a libFuzzer executable (undefined <target>_main), so the modules are compiled with
# swiftc directly, instrumented and under AddressSanitizer, into .build-fuzz/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
build="$top/.build-fuzz"
mkdir -p "$build"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -package-name digits -I "$build" -I "$top/Sources/CZlib" -I "$top/Sources/CLinux")
quiet() { "$@" 2> >(grep -v "Cannot export local symbol" >&2); }

# A static library and module from sources, rebuilt when a source is newer than it.
module() {
    local name=$1
    shift
    local library="$build/lib$name.a"
    if [ -f "$library" ] && [ -z "$(find "$@" -newer "$library" 2>/dev/null | head -1)" ]; then return; fi
    echo "building $name for fuzzing"
    quiet swiftc "${flags[@]}" -enable-testing -module-name "$name" -emit-module \
        -emit-module-path "$build/$name.swiftmodule" -emit-library -static -o "$library" "$@"
}

swift_log() {
    local logging="$top/.build/checkouts/swift-log/Sources/Logging"
    [ -d "$logging" ] || (cd "$top" && swift package resolve >/dev/null)
    module Logging $(find "$logging" -name '*.swift')
}

build_target() {
    local target=$1
    local binary="$build/fuzz-$target"
    local service="$top/Sources/DigitService"
    case "$target" in
    parser)
        local http="$top/Sources/HTTPCore/HTTP"
        module JSON $(find "$top/Sources/JSON" -name '*.swift')
        quiet swiftc "${flags[@]}" "$here/parser/Fuzz.swift" "$http/HTTPRequestParser.swift" \
            "$http/HTTPParserLimits.swift" "$http/HTTPParserError.swift" "$http/HTTPRequest.swift" \
            "$http/HTTPHeaders.swift" "$http/TextTrimming.swift" "$http/HTTPStatus.swift" "$http/HTTPError.swift" \
            "$http/HTTPResponse.swift" "$top/Sources/HTTPCore/Server/MemoryBudget.swift" \
            -L "$build" -lJSON -o "$binary"
        ;;
    json | inference | gzip | connection)
        swift_log
        module JSON $(find "$top/Sources/JSON" -name '*.swift')
        module HTTPCore $(find "$top/Sources/HTTPCore" -name '*.swift')
        local sources=("$here/$target/Fuzz.swift")
        # The service's request readers: its input folder and the errors they throw; not the picture
        # readers, which need DigitCore (the pictures target fuzzes what they call).
        case "$target" in
        json | inference)
            sources+=($(grep -L '^import DigitCore' $(find "$service/Input" -name '*.swift')) "$service/ServiceErrors.swift")
            ;;
        esac
        quiet swiftc "${flags[@]}" "${sources[@]}" -L "$build" -lHTTPCore -lJSON -lLogging -lz -o "$binary"
        ;;
    pictures)
        # The C shim, instrumented too; libpng and libjpeg are the system's (not instrumented).
        local codecs="$top/Sources/CImageCodecs"
        mkdir -p "$build/CImageCodecs"
        printf 'module CImageCodecs {\n    header "%s"\n    export *\n}\n' "$codecs/include/image_codecs.h" \
            >"$build/CImageCodecs/module.modulemap"
        for source in png_decoder jpeg_decoder; do
            clang -fsanitize=fuzzer-no-link,address -O1 -g -I "$codecs/include" -c "$codecs/$source.c" \
                -o "$build/CImageCodecs/$source.o"
        done
        local http="$top/Sources/HTTPCore/HTTP"
        quiet swiftc "${flags[@]}" -I "$build/CImageCodecs" "$here/pictures/Fuzz.swift" \
            $(find "$top/Sources/DigitCore/Image" -name '*.swift') "$http/MultipartFormData.swift" \
            "$http/TextTrimming.swift" "$build/CImageCodecs/png_decoder.o" "$build/CImageCodecs/jpeg_decoder.o" \
            -lpng16 -ljpeg -o "$binary"
        ;;
    *)
        echo "unknown target '$target'; one of: parser json inference gzip connection pictures all" >&2
        exit 2
        ;;
    esac
}

run_target() {
    local target=$1 mode=$2
    build_target "$target"
    mkdir -p "$here/$target/corpus" "$here/$target/crashers"
    local options=(-max_len=8192)
    [ -f "$here/$target/dict" ] && options+=(-dict="$here/$target/dict")
    if [ "$mode" = "regress" ]; then
        echo "== $target: replaying $(ls "$here/$target/corpus" | wc -l) corpus inputs and $(ls "$here/$target/crashers" | wc -l) crashers"
        "$build/fuzz-$target" -runs=0 "${options[@]}" "$here/$target/crashers" "$here/$target/corpus"
        return
    fi
    # New inputs go to a scratch corpus; the committed one is the seeds, merged into by hand.
    local scratch="$build/corpus-$target"
    mkdir -p "$scratch"
    cp -n "$here/$target/corpus"/* "$scratch/" 2>/dev/null || true
    (cd "$build" && "$build/fuzz-$target" -max_total_time="$mode" "${options[@]}" \
        -artifact_prefix="$here/$target/crashers/" "$scratch")
}

target=${1:?usage: fuzz.sh TARGET|all [seconds|regress]}
mode=${2:-60}
if [ "$target" = "all" ]; then
    for each in parser json inference gzip connection pictures; do run_target "$each" "$mode"; done
else
    run_target "$target" "$mode"
fi
