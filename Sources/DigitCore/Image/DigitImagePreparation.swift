/// A picture of a digit made into a model's input the way the training data was made (`data/README.md`):
/// the ink found, cropped to its bounding box, scaled so that its longer side is 20 pixels, centred on
/// 20 x 20, 0 for paper and 1 for ink. The one implementation: the page at `/` sends its drawing as a
/// PNG and is answered with the 20 x 20 that this made.
///
/// The steps, each with its documented threshold:
/// 1. **Paper and ink.** The paper's level is the median of the border pixels (a digit does not touch all
///    four edges). Paper lighter than mid-grey means dark ink, darker means light ink (MNIST's white on
///    black). The ink's level is the level farthest from the paper's; ink is then
///    `(paper - level) / (paper - inkLevel)`, clamped to 0...1, so a grey sheet or a pencil stroke reaches
///    the same 0 and 1 as black on white. Less than ``minimumContrast`` levels between them: no ink.
/// 2. **The bounding box, specks ignored.** Pixels at least ``inkThreshold`` inked, grouped by touching
///    (8 neighbours); groups smaller than ``speckFraction`` of the largest group are specks (dust, a
///    scanner's noise) and do not widen the box.
/// 3. **Scaling.** The box is scaled, aspect ratio kept, so its longer side is 20 pixels, with Pillow's
///    bilinear (triangle) filter, whose support widens with the reduction, so a large picture is averaged
///    rather than sampled: the filter the training data and the page used.
/// 4. **Centring** on 20 x 20, the leftover split with the smaller half above and to the left.
public enum DigitImagePreparation {
    /// The model's image side.
    public static let side = 20
    /// Ink at least this strong counts towards the bounding box; faint anti-aliasing does not.
    public static let inkThreshold: Float = 0.5
    /// A group of inked pixels smaller than this share of the largest group is a speck.
    public static let speckFraction = 0.02
    /// Levels (of 255) between paper and ink below which a picture holds no ink.
    public static let minimumContrast = 32
    /// Separate runs of ink in the picture at most: past it the picture is noise, not a digit.
    public static let maxInkRuns = 1 << 20

    /// The 400 values, row-major, that the model reads for `image`.
    public static func modelInput(from image: GreyImage) throws(ImageError) -> [Float] {
        let ink = try inkScale(of: image)
        let box = try inkBox(of: image, ink: ink)
        return scaledAndCentred(image, ink: ink, box: box)
    }

    /// Where ink goes from 0 to 1 for each grey level (step 1).
    static func inkScale(of image: GreyImage) throws(ImageError) -> [Float] {
        var border: [UInt8] = []
        border.reserveCapacity(2 * (image.width + image.height))
        for x in 0..<image.width {
            border.append(image[x, 0])
            if image.height > 1 { border.append(image[x, image.height - 1]) }
        }
        if image.height > 2 {
            for y in 1..<(image.height - 1) {
                border.append(image[0, y])
                if image.width > 1 { border.append(image[image.width - 1, y]) }
            }
        }
        border.sort()
        let paper = Int(border[border.count / 2])
        let darkInk = paper >= 128
        let inkLevel = Int(darkInk ? image.levels.min()! : image.levels.max()!)
        let contrast = abs(paper - inkLevel)
        guard contrast >= minimumContrast else {
            throw .noInk(
                reason: contrast == 0
                    ? "the \(image.width)x\(image.height) image is all one shade (level \(paper) of 255)"
                    : "the image's levels are within \(contrast) of the paper's \(paper) (at least \(minimumContrast) of 255 are needed)"
            )
        }
        return (0...255).map { level in
            let value = Float(paper - level) / Float(paper - inkLevel)
            return min(max(value, 0), 1)
        }
    }

    /// The inclusive pixel bounds of the ink that is not specks (step 2).
    static func inkBox(
        of image: GreyImage, ink: [Float]
    ) throws(ImageError) -> (left: Int, top: Int, right: Int, bottom: Int) {
        let isInk = ink.map { $0 >= inkThreshold }
        var groups = InkGroups()
        var previous: Range<Int> = 0..<0
        let width = image.width
        let tooNoisy = image.levels.withUnsafeBufferPointer { levels -> Bool in
            for y in 0..<image.height {
                let rowStart = groups.runs.count
                let row = levels[(y * width)..<((y + 1) * width)]
                var x = row.startIndex
                while x < row.endIndex {
                    guard isInk[Int(row[x])] else {
                        x += 1
                        continue
                    }
                    let start = x
                    while x < row.endIndex, isInk[Int(row[x])] { x += 1 }
                    guard groups.runs.count < maxInkRuns else { return true }
                    groups.add(row: y, start: start - row.startIndex, end: x - 1 - row.startIndex, touching: previous)
                }
                previous = rowStart..<groups.runs.count
            }
            return false
        }
        if tooNoisy { throw .noInk(reason: "the picture is noise: more than \(maxInkRuns) separate runs of ink") }
        guard let box = groups.boxWithoutSpecks(speckFraction: speckFraction) else {
            throw .noInk(reason: "no pixel is at least half inked")
        }
        return box
    }

    /// The box scaled to a longer side of 20 and centred on 20 x 20 (steps 3 and 4).
    static func scaledAndCentred(
        _ image: GreyImage, ink: [Float], box: (left: Int, top: Int, right: Int, bottom: Int)
    ) -> [Float] {
        let width = box.right - box.left + 1
        let height = box.bottom - box.top + 1
        let longer = max(width, height)
        let newWidth = max(1, Int((Double(width * side) / Double(longer)).rounded()))
        let newHeight = max(1, Int((Double(height * side) / Double(longer)).rounded()))
        let horizontal = TriangleFilter(inputSize: width, outputSize: newWidth)
        let vertical = TriangleFilter(inputSize: height, outputSize: newHeight)
        // Rows first, then columns, as Pillow does; in Double, as Pillow's float images are.
        var rows = [Double](repeating: 0, count: height * newWidth)
        for y in 0..<height {
            let row = (box.top + y) * image.width + box.left
            for x in 0..<newWidth {
                var sum = 0.0
                let (start, weights) = horizontal.taps[x]
                for (k, weight) in weights.enumerated() {
                    sum += Double(ink[Int(image.levels[row + start + k])]) * weight
                }
                rows[y * newWidth + x] = sum
            }
        }
        var out = [Float](repeating: 0, count: side * side)
        let offsetX = (side - newWidth) / 2
        let offsetY = (side - newHeight) / 2
        for y in 0..<newHeight {
            let (start, weights) = vertical.taps[y]
            for x in 0..<newWidth {
                var sum = 0.0
                for (k, weight) in weights.enumerated() { sum += rows[(start + k) * newWidth + x] * weight }
                out[(offsetY + y) * side + offsetX + x] = Float(min(max(sum, 0), 1))
            }
        }
        return out
    }
}

/// Pillow's bilinear resampling weights for one axis: for each output position, the first input index
/// and the normalised weights of a triangle whose half-width is the reduction factor (at least 1).
struct TriangleFilter {
    let taps: [(start: Int, weights: [Double])]

    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        let support = max(scale, 1)
        taps = (0..<outputSize).map { index in
            let centre = (Double(index) + 0.5) * scale
            let start = max(Int(centre - support + 0.5), 0)
            let end = min(Int(centre + support + 0.5), inputSize)
            var weights = (start..<end).map { j in max(0, 1 - abs((Double(j) - centre + 0.5) / support)) }
            let total = weights.reduce(0, +)
            if total > 0 { weights = weights.map { $0 / total } }
            return (start, weights)
        }
    }
}

/// Runs of ink, row by row, joined into groups of touching pixels (8 neighbours) by union-find.
struct InkGroups {
    struct Run {
        let row: Int
        let start: Int
        let end: Int
    }
    private(set) var runs: [Run] = []
    private var parent: [Int] = []

    /// Where the next run of the current row starts looking in the row above: runs come left to right, so
    /// the runs above that end before one run cannot touch the next, and each row pair costs the runs of
    /// both, not their product (a picture of thin stripes has thousands of runs a row).
    private var aboveCursor = 0

    /// Adds a run, left to right within its row, and joins it with the runs of the row above (`above`,
    /// indices into ``runs``) that it touches.
    mutating func add(row: Int, start: Int, end: Int, touching above: Range<Int>) {
        let index = runs.count
        if index == 0 || runs[index - 1].row != row { aboveCursor = above.lowerBound }
        runs.append(Run(row: row, start: start, end: end))
        parent.append(index)
        aboveCursor = max(aboveCursor, above.lowerBound)
        while aboveCursor < above.upperBound, runs[aboveCursor].end < start - 1 { aboveCursor += 1 }
        var other = aboveCursor
        while other < above.upperBound, runs[other].start <= end + 1 {
            let (a, b) = (root(of: other), root(of: index))
            if a != b { parent[max(a, b)] = min(a, b) }
            other += 1
        }
    }

    private mutating func root(of index: Int) -> Int {
        var index = index
        while parent[index] != index {
            parent[index] = parent[parent[index]]
            index = parent[index]
        }
        return index
    }

    /// The bounds of the groups at least `speckFraction` the size (in pixels) of the largest; nil for none.
    mutating func boxWithoutSpecks(speckFraction: Double) -> (left: Int, top: Int, right: Int, bottom: Int)? {
        var sizes: [Int: Int] = [:]
        for index in runs.indices { sizes[root(of: index), default: 0] += runs[index].end - runs[index].start + 1 }
        guard let largest = sizes.values.max() else { return nil }
        let minimum = Double(largest) * speckFraction
        var box: (left: Int, top: Int, right: Int, bottom: Int)?
        for index in runs.indices where Double(sizes[root(of: index)]!) >= minimum {
            let run = runs[index]
            box =
                box.map {
                    (min($0.left, run.start), min($0.top, run.row), max($0.right, run.end), max($0.bottom, run.row))
                }
                ?? (run.start, run.row, run.end, run.row)
        }
        return box
    }
}
