#!/usr/bin/env bash
# Makes every bundled model from the training data, exactly as the committed files were made:
#   bash data/models/retrain.sh DIGITS OUT
# with DIGITS a release build of `digits` and OUT a folder that receives the repository's layout
# (OUT/binary/1/model.json, ...). CI runs it and compares each file byte for byte. About 2.5 minutes on
# 2 cores, most of it the ten-class CNN.
set -euo pipefail
digits=$(realpath "$1")
mkdir -p "$2"
out=$(realpath "$2")
# The training and test data's default paths are relative to the project's top folder.
cd "$(dirname "$0")/../.."
# The recorded creation time of every bundled model.
export SOURCE_DATE_EPOCH=1795548600
mkdir -p "$out/binary/1" "$out/ten-class/1" "$out/ten-class/2" "$out/binary-int8/1" "$out/ten-class-int8/1"
# The original's 400-25-15-1 sigmoid network, trained with augmentation.
"$digits" train --task binary --output "$out/binary/1/model.json"
# Version 1 of ten-class: the multilayer perceptron it was before, kept to compare with.
"$digits" train --task ten-class --layers dense256,dense128 --output "$out/ten-class/1/model.json"
# Version 2: the CNN (conv32, pool, conv64, pool, dense48, dropout 0.3, softmax).
"$digits" train --task ten-class --output "$out/ten-class/2/model.json"
# Their int8 versions, served beside them as models of their own.
"$digits" quantize --model "$out/binary/1/model.json" --name binary-int8 --output "$out/binary-int8/1/model.json"
"$digits" quantize --model "$out/ten-class/2/model.json" --name ten-class-int8 \
    --output "$out/ten-class-int8/1/model.json"
