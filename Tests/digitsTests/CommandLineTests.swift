import Foundation
import Testing

@Suite("The digits command line")
struct CommandLineTests {
    @Test("evaluate reports the bundled binary model at 0.99 or better on the 180 test zeros and ones")
    func evaluateBinary() throws {
        let result = try CommandRunner.run(["evaluate", "--model", "data/models/binary/1/model.json", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
        #expect(report["total_samples"] as? Int == 180)
        #expect((report["accuracy"] as? Double ?? 0) >= 0.99)
        for key in ["precision", "recall", "f1_score", "correct_predictions", "confusion_matrix"] {
            #expect(report[key] != nil, "\(key)")
        }
    }

    @Test("evaluate reports the ten-class model at 0.95 or better on the 900 test digits")
    func evaluateTenClass() throws {
        let result = try CommandRunner.run(["evaluate", "--model", "data/models/ten-class/1/model.json", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
        #expect(report["total_samples"] as? Int == 900)
        #expect((report["accuracy"] as? Double ?? 0) >= 0.95)
        #expect((report["per_class"] as? [Any])?.count == 10)
    }

    @Test("evaluate prints the original's report as text")
    func evaluateText() throws {
        let result = try CommandRunner.run(["evaluate"])
        #expect(result.status == 0)
        for label in [
            "Accuracy:", "Precision:", "Recall:", "F1 score:", "Total samples:       180", "Correct predictions:",
            "Confusion matrix",
        ] {
            #expect(result.standardOutput.contains(label), "\(label)")
        }
    }

    @Test("info prints the original's model info")
    func info() throws {
        let result = try CommandRunner.run(["info", "--model", "data/models/binary/1/model.json"])
        #expect(result.status == 0)
        for label in [
            "Model type:", "Input shape:      (None, 400)", "Output shape:     (None, 1)", "Total parameters: 10431",
            "dense_1  400 -> 25  sigmoid",
        ] {
            #expect(result.standardOutput.contains(label), "\(label)")
        }
    }

    @Test("training twice with one seed writes byte-identical files")
    func trainDeterministic() throws {
        let first = CommandRunner.temporaryPath(".json")
        let second = CommandRunner.temporaryPath(".json")
        defer {
            try? FileManager.default.removeItem(atPath: first)
            try? FileManager.default.removeItem(atPath: second)
        }
        for path in [first, second] {
            // An empty SOURCE_DATE_EPOCH (whatever the caller's shell has) means no creation time.
            let result = try CommandRunner.run(
                ["train", "--epochs", "2", "--seed", "3", "--output", path], environment: ["SOURCE_DATE_EPOCH": ""])
            #expect(result.status == 0, "\(result.standardError)")
            #expect(result.standardOutput.contains("epoch 2/2  loss "))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == Data(contentsOf: URL(fileURLWithPath: second)))
        let text = try String(contentsOfFile: first, encoding: .utf8)
        for field in [
            "\"images_sha256\": \"1bd2073650abd29440c0d54bc110f9a47135fb2dd43a420c8ccf7f91f6d88c04\"", "\"seed\": 3",
            "\"epochs\": 2", "\"test_metrics\"",
        ] {
            #expect(text.contains(field), "\(field)")
        }
        #expect(!text.contains("\"created\""))
    }

    @Test("SOURCE_DATE_EPOCH records the creation time")
    func creationTime() throws {
        let path = CommandRunner.temporaryPath(".json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try CommandRunner.run(
            ["train", "--epochs", "1", "--output", path], environment: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("\"created\": \"2023-11-14T22:13:20Z\""))
    }

    @Test("import turns Keras .npz weights into a model that info reads")
    func importKeras() throws {
        let path = CommandRunner.temporaryPath(".json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try CommandRunner.run([
            "import", "--weights", CommandRunner.fixture("keras_deflate.npz"), "--activations", "relu,softmax",
            "--input-shape", "2,2", "--name", "keras", "--output", path,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let info = try CommandRunner.run(["info", "--model", path])
        #expect(info.standardOutput.contains("Total parameters: 23"))
    }

    @Test("import --layers takes a Keras CNN; quantize writes its int8 version, which evaluate and info read")
    func importAndQuantizeCNN() throws {
        let imported = CommandRunner.temporaryPath(".json")
        let quantized = CommandRunner.temporaryPath(".json")
        defer {
            try? FileManager.default.removeItem(atPath: imported)
            try? FileManager.default.removeItem(atPath: quantized)
        }
        let result = try CommandRunner.run([
            "import", "--weights", CommandRunner.fixture("keras_cnn.npz"), "--layers",
            "conv8,pool,conv16-valid,pool,dense32,dropout0.25,dense10", "--activations", "relu,relu,relu,softmax",
            "--name", "keras-cnn", "--output", imported,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let info = try CommandRunner.run(["info", "--model", imported])
        #expect(
            info.standardOutput.contains("conv2d_2  800 -> 16x8x8  relu  1168 parameters"), "\(info.standardOutput)")
        #expect(info.standardOutput.contains("Total parameters: 9802"))
        let quantize = try CommandRunner.run(["quantize", "--model", imported, "--output", quantized])
        #expect(quantize.status == 0, "\(quantize.standardError)")
        #expect(quantize.standardOutput.contains("x smaller)") && quantize.standardOutput.contains("test accuracy"))
        let evaluation = try CommandRunner.run(["evaluate", "--model", quantized, "--json"])
        #expect(evaluation.status == 0, "\(evaluation.standardError)")
        let report = try JSONSerialization.jsonObject(with: Data(evaluation.standardOutput.utf8)) as! [String: Any]
        #expect((report["accuracy"] as? Double ?? 0) > 0.8)
        #expect((report["robustness"] as? [Any])?.count == 8)
        let help = try CommandRunner.run(["quantize", "--help"])
        #expect(help.standardOutput.contains("one scale s (the largest") && !help.standardOutput.contains("\\"))
        let again = try CommandRunner.run(["quantize", "--model", quantized, "--output", imported])
        #expect(again.status == 1 && again.standardError.contains("the weights are int8 already"))
    }

    /// Each bad input exits non-zero with one clear line naming the problem, and never crashes.
    @Test(
        "bad input fails cleanly",
        arguments: [
            (["evaluate", "--model", "missing.json"], "missing.json: open failed: No such file or directory"),
            (["evaluate", "--images", "Tests/DigitCoreTests/Fixtures/truncated.npy"], "is truncated"),
            (["evaluate", "--labels", "Tests/DigitCoreTests/Fixtures/complex.npy"], "unsupported dtype '<c8'"),
            (
                [
                    "evaluate", "--images", "Tests/DigitCoreTests/Fixtures/images_4.npy", "--labels",
                    "Tests/DigitCoreTests/Fixtures/labels_out_of_range.npy",
                ], "labels[2] is 12"
            ),
            (
                [
                    "evaluate", "--images", "Tests/DigitCoreTests/Fixtures/images_3.npy", "--labels",
                    "Tests/DigitCoreTests/Fixtures/labels_4.npy",
                ], "3 images but 4 labels"
            ),
            (["evaluate", "--images", "Tests/DigitCoreTests/Fixtures/big_endian.npy"], "big-endian"),
            (["train", "--epochs", "0", "--output", "/tmp/x.json"], "--epochs must be at least 1"),
            (
                ["train", "--layers", "conv16,dense10,conv8", "--output", "/tmp/x.json"],
                "--layers: layer 3: a convolution needs feature maps; put it before the first dense layer"
            ),
            (["train", "--layers", "conv16k4", "--output", "/tmp/x.json"], "conv<filters>[k3|k5]"),
            (["train", "--layers", "dense8", "--hidden", "8", "--output", "/tmp/x.json"], "give --layers or --hidden"),
            (["train", "--augment-rotation", "90", "--output", "/tmp/x.json"], "from 0 to 45 degrees"),
            (
                [
                    "import", "--weights", "Tests/DigitCoreTests/Fixtures/keras_stored.npz", "--activations",
                    "relu,softmax", "--input-shape", "16777216,16777216,16777216,16777216", "--output", "/tmp/x.json",
                ], "--input-shape must hold positive sizes whose product is at most 16777216"
            ),
            (
                [
                    "import", "--weights", "Tests/DigitCoreTests/Fixtures/keras_gap.npz", "--activations", "relu",
                    "--input-shape", "2,2", "--output", "/tmp/x.json",
                ], "the archive holds W3 but no W2"
            ),
            (
                [
                    "import", "--weights", "Tests/DigitCoreTests/Fixtures/keras_cnn.npz", "--layers",
                    "conv8,pool,dense10",
                    "--activations", "relu", "--output", "/tmp/x.json",
                ], "--layers names 2 layers with weights (conv and dense) but --activations gives 1"
            ),
            (
                [
                    "import", "--weights", "Tests/DigitCoreTests/Fixtures/keras_cnn.npz", "--layers",
                    "conv8,pool,conv16,pool,dense32,dense10", "--activations", "relu,relu,relu,softmax", "--output",
                    "/tmp/x.json",
                ], "W3 has shape (256, 32); expected (400, units)"
            ),
            (["train", "--output", "/nonexistent-folder/model.json", "--epochs", "1"], "No such file or directory"),
            (
                [
                    "import", "--weights", "Tests/DigitCoreTests/Fixtures/keras_stored.npz", "--activations", "relu",
                    "--input-shape", "2,2", "--output", "/tmp/x.json",
                ], "2 layers (W1 to W2) but 1 activations"
            ),
            (
                [
                    "import", "--weights", "Tests/DigitCoreTests/Fixtures/keras_stored.npz", "--activations",
                    "relu,softmax", "--output", "/tmp/x.json",
                ], "expected (400, units)"
            ),
            (
                [
                    "import", "--weights", "Tests/DigitCoreTests/Fixtures/corrupt_deflate.npz", "--activations",
                    "relu,softmax", "--output", "/tmp/x.json",
                ], "corrupt .npz archive"
            ),
        ])
    func badInput(arguments: [String], message: String) throws {
        let result = try CommandRunner.run(arguments)
        #expect(result.status != 0)
        #expect(result.status < 128, "exited by a signal: a crash")
        #expect(result.standardError.contains(message), "\(result.standardError)")
    }

    /// A `.npy` file (format 1.0) of `shape` holding `data` of type `descr`, as NumPy writes one.
    func writeNPY(_ data: [UInt8], descr: String, shape: [Int], to path: String) throws {
        let dimensions = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dimensions)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        bytes += [UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)] + Array(header.utf8)
        bytes += data
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test("the first hour's mistakes are refused at once with the fix")
    func firstHourMistakes() throws {
        // train checks that it can write its model file before it trains.
        let train = try CommandRunner.run(["train", "--task", "binary", "--output", "/nonexistent/model.json"])
        #expect(train.status == 1)
        #expect(
            train.standardError.contains("cannot write the model file /nonexistent/model.json"),
            "\(train.standardError)")
        #expect(train.standardError.contains("nothing was trained"))
        for folder in [NSTemporaryDirectory(), "/tmp/", "/tmp", "."] {
            let intoFolder = try CommandRunner.run(["train", "--task", "binary", "--output", folder])
            #expect(intoFolder.status == 1)
            #expect(
                intoFolder.standardError.contains("it is a folder; give --output a file name"),
                "\(intoFolder.standardError)")
        }
        // A missing relative path says where it was looked for and which flag sets it, in every command,
        // and train reads its test split before it trains (no epoch is shown).
        let project = CommandRunner.projectFolder.resolvingSymlinksInPath().path
        let output = CommandRunner.temporaryPath(".json")
        defer { try? FileManager.default.removeItem(atPath: output) }
        for (arguments, flag) in [
            (["train", "--task", "binary", "--images", "missing-test.npy", "--output", output], "--images"),
            (
                ["train", "--task", "binary", "--train-images", "missing-train.npy", "--output", output],
                "--train-images"
            ),
            (["evaluate", "--model", "missing/model.json"], "--model"),
            (["info", "--model", "missing/model.json"], "--model"),
            (["predict", "--model-repository", "missing-models", "data/examples/seven.png"], "--model-repository"),
        ] {
            let result = try CommandRunner.run(arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(
                result.standardError.contains(
                    "was looked for in \(project), since a relative path is read from the folder digits runs in: run it from the project's top folder, or give \(flag) an absolute path"
                ), "\(result.standardError)")
            #expect(!result.standardOutput.contains("epoch"), "\(arguments): trained before it failed")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
        // A file that is there but is not a model gets no such hint.
        let notModel = try CommandRunner.run(["info", "--model", "README.md"])
        #expect(notModel.status == 1 && !notModel.standardError.contains("was looked for"), "\(notModel.standardError)")
        // --activation lists only the hidden activations, and refuses softmax as a value.
        let softmax = try CommandRunner.run(["train", "--activation", "softmax", "--output", "/tmp/x.json"])
        #expect(softmax.status == 64)
        #expect(softmax.standardError.contains("'sigmoid', 'relu' or 'linear'"), "\(softmax.standardError)")
        let help = try CommandRunner.run(["help", "train"])
        #expect(help.standardOutput.contains("values: sigmoid, relu, linear"), "\(help.standardOutput)")
        // A Keras model file is recognised and pointed at the export.
        let keras = CommandRunner.temporaryPath(".keras")
        defer { try? FileManager.default.removeItem(atPath: keras) }
        try Data("PK\u{03}\u{04}not really".utf8).write(to: URL(fileURLWithPath: keras))
        let imported = try CommandRunner.run([
            "import", "--weights", keras, "--activations", "relu,softmax", "--output", "/tmp/x.json",
        ])
        #expect(imported.status == 1)
        #expect(imported.standardError.contains("is a Keras model file"), "\(imported.standardError)")
        #expect(imported.standardError.contains("Bringing your own Keras weights"))
        // evaluate refuses 0-255 pixels, as the API does.
        let images = CommandRunner.temporaryPath(".npy")
        let labels = CommandRunner.temporaryPath(".npy")
        defer {
            try? FileManager.default.removeItem(atPath: images)
            try? FileManager.default.removeItem(atPath: labels)
        }
        let pixels = (0..<800).flatMap { index in
            withUnsafeBytes(of: Float(index % 256).bitPattern.littleEndian, Array.init)
        }
        try writeNPY(pixels, descr: "<f4", shape: [2, 400], to: images)
        let classes = [Int64(0), 1].flatMap { label in withUnsafeBytes(of: label.littleEndian, Array.init) }
        try writeNPY(classes, descr: "<i8", shape: [2], to: labels)
        let evaluate = try CommandRunner.run([
            "evaluate", "--model", "data/models/binary/1/model.json", "--images", images, "--labels", labels,
        ])
        #expect(evaluate.status == 1)
        #expect(evaluate.standardError.contains("divide 0-255 values by 255"), "\(evaluate.standardError)")
    }

    @Test(
        "bad model files fail cleanly, naming the layer",
        arguments: [
            ("wrong-shape", "layers[0].weights[0]: has 399 numbers; expected 400"),
            ("nan-weight", "layers[1].bias[3]: is NaN"),
        ])
    func badModel(kind: String, message: String) throws {
        var text = try String(
            contentsOfFile: CommandRunner.projectFolder.appendingPathComponent("data/models/binary/1/model.json").path,
            encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        if kind == "wrong-shape" {
            let index = lines.firstIndex { $0.hasPrefix("        [") }!
            lines[index] = lines[index].replacingOccurrences(
                of: #"^(\s*\[)[^,]+, "#, with: "$1", options: .regularExpression)
        } else {
            let index = lines.indices.filter { lines[$0].contains("\"bias\"") }[1]
            var numbers = lines[index].components(separatedBy: ", ")
            numbers[3] = "NaN"
            lines[index] = numbers.joined(separator: ", ")
        }
        text = lines.joined(separator: "\n")
        let path = CommandRunner.temporaryPath(".json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try CommandRunner.run(["evaluate", "--model", path])
        #expect(result.status == 1)
        #expect(result.standardError.contains(message), "\(result.standardError)")
    }

    @Test("--help documents every option and its default")
    func help() throws {
        let result = try CommandRunner.run(["train", "--help"])
        #expect(result.status == 0)
        for text in [
            "--epochs", "--batch-size", "(default: 32)", "--learning-rate", "(default: 0.001)", "--hidden", "--seed",
            "(default: 42)", "--output",
        ] {
            #expect(result.standardOutput.contains(text), "\(text)")
        }
    }
}

@Suite("the README's configuration table")
struct ConfigurationTableTests {
    /// Each row of the table under "## Configuration": flag, environment variable, default.
    func rows() throws -> [(flag: String, variable: String, defaultValue: String)] {
        let readme = try String(
            contentsOfFile: CommandRunner.projectFolder.appendingPathComponent("README.md").path, encoding: .utf8)
        let section = readme.components(separatedBy: "\n## Configuration\n")[1].components(separatedBy: "\n## ")[0]
        return section.split(separator: "\n").filter { $0.hasPrefix("| `--") }.map { line in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            let flag = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`")).split(separator: " ")[0]
            return (String(flag), cells[2].trimmingCharacters(in: CharacterSet(charactersIn: "`")), cells[3])
        }
    }

    @Test("every flag in the table exists in digits serve, with the documented variable and default")
    func tableMatchesHelp() throws {
        let rows = try rows()
        #expect(rows.count >= 25, "the table was found: \(rows.count) rows")
        let help = try CommandRunner.run(["help", "serve"]).standardOutput
        // One line per option: the wrapped help joined, so that "[env: X]" is found whole.
        let text = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for row in rows {
            let start = text.range(of: row.flag + " <") ?? text.range(of: row.flag + " ")
            guard let start else {
                Issue.record("\(row.flag) is in the README's table but not in digits serve --help")
                continue
            }
            // Up to the next option's "--name <value>" (flags named in help text have no "<" after them).
            let rest = text[start.upperBound...]
            let next = rest.range(of: #" --[a-z][a-z0-9-]* <"#, options: .regularExpression)
            let entry = next.map { rest[..<$0.lowerBound] } ?? rest
            if !row.variable.isEmpty {
                #expect(entry.contains("[env: \(row.variable)]"), "\(row.flag): \(entry)")
            }
            // A default written as one value (`8080`, `data/models`) is the help's default, word for word.
            let plain = row.defaultValue.trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            if row.defaultValue.hasPrefix("`"), row.defaultValue.hasSuffix("`"), !plain.contains("`") {
                #expect(entry.contains("(default: \(plain))"), "\(row.flag): README says \(plain); help: \(entry)")
            }
        }
    }
}
