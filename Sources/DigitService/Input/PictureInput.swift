import DigitCore
import HTTPCore

/// Pictures sent as they are: a `POST /predict` body of `image/png`, `image/jpeg` or
/// `image/x-portable-graymap`, or the parts of a `multipart/form-data` `POST /predict/batch`. Each is
/// decoded within the limits and made into the model's 20 x 20 by ``DigitImagePreparation``, the one
/// pipeline.
struct PictureInput: Sendable {
    let limits: ImageLimits

    /// The picture format a `Content-Type` declares; nil for anything else.
    static func format(declaredBy contentType: String?) -> ImageFormat? {
        contentType.flatMap(ImageFormat.init(mediaType:))
    }

    /// Pictures are made into 20 x 20; a model of another input (served with a test split to match) cannot
    /// read them.
    static func check(_ served: ServedModel) throws(HTTPError) {
        let side = DigitImagePreparation.side
        guard served.model.inputShape == [side, side] else {
            throw HTTPError(
                status: .unprocessableContent, code: "invalid_request",
                message:
                    "model '\(served.name)' takes \(served.model.inputShape.map(String.init).joined(separator: "x")) images; pictures are made into \(side)x\(side), so send it its pixels as JSON"
            )
        }
    }

    /// The 400 values the model reads for one picture. `declared` is the format its `Content-Type` named
    /// (nil: whatever its signature says); `part` names a multipart part in messages.
    func modelInput(
        _ bytes: [UInt8], declared: ImageFormat?, part: String? = nil,
        memory: MemoryReservation = MemoryReservation(budget: .unlimited)
    ) throws(HTTPError) -> [Float] {
        try modelInputAndCost(bytes, declared: declared, part: part, memory: memory).input
    }

    /// The model input and the bytes its decoding took (width x height x 4 at most: the grey levels and
    /// the samples they came from), for a batch's budget. `whenOverBudget`, when a decode is refused as
    /// too large, says why in the budget's words.
    ///
    /// The decoding must fit what the server's budget (`memory`) has room for now, as well as the
    /// decoded-bytes limit: a picture that needs more than the room is answered 503 (the server is busy),
    /// not 413 (it is too large). The room is checked, not reserved: at most the worker count of pictures
    /// decode at once.
    func modelInputAndCost(
        _ bytes: [UInt8], declared: ImageFormat?, part: String? = nil,
        memory: MemoryReservation = MemoryReservation(budget: .unlimited), whenOverBudget: String? = nil
    ) throws(HTTPError) -> (input: [Float], decodedBytes: Int) {
        let actual = ImageFormat(sniffing: bytes)
        if let declared, actual != declared {
            throw .pictureTypeMismatch(declared: declared, actual: actual, firstBytes: bytes.prefix(8), part: part)
        }
        var limits = self.limits
        // A small picture always passes, as small requests do. Nothing is reserved ahead: the size is
        // known only inside the decoder, and holding the whole limit for every picture would turn other
        // requests away while it decodes; the decoder refuses a picture larger than the room instead.
        let held = min(limits.maxDecodedBytes, max(memory.budget.room, memory.budget.alwaysAdmittedBytes))
        limits.maxDecodedBytes = held
        do {
            let image = try ImageDecoder.decode(bytes, as: declared ?? actual, limits: limits)
            return (try DigitImagePreparation.modelInput(from: image), image.width * image.height * 4)
        } catch {
            if case .decodedTooLarge(_, _, _, let needed, _) = error, needed <= self.limits.maxDecodedBytes {
                throw .serverBusy(
                    "decoding \(part ?? "the picture") needs \(MemoryReservation.mebibytes(needed)) MiB, and the requests in progress leave \(MemoryReservation.mebibytes(held)) MiB of the memory budget"
                )
            }
            if case .decodedTooLarge = error, let whenOverBudget {
                throw HTTPError(
                    status: .contentTooLarge, code: "image_too_large",
                    message: "\(part ?? "the picture"): \(error) (\(whenOverBudget)); send fewer pictures at once")
            }
            throw .invalidPicture(error, part: part)
        }
    }
}

extension HTTPError {
    /// A picture that cannot be read, with the status its kind calls for: 413 over a limit, 415 a format
    /// not taken, 422 damaged or blank.
    static func invalidPicture(_ error: ImageError, part: String?) -> HTTPError {
        let message = part.map { "\($0): \(error)" } ?? "\(error)"
        switch (error.kind, error) {
        case (.tooLarge, _): return HTTPError(status: .contentTooLarge, code: "image_too_large", message: message)
        case (.unsupported, _):
            return HTTPError(status: .unsupportedMediaType, code: "unsupported_image", message: message)
        case (.unreadable, .noInk): return HTTPError(status: .unprocessableContent, code: "no_ink", message: message)
        case (.unreadable, _):
            return HTTPError(status: .unprocessableContent, code: "invalid_image_file", message: message)
        }
    }

    /// 422: a body whose bytes are not of the format its `Content-Type` says (`actual` nil: of none taken).
    static func pictureTypeMismatch(
        declared: ImageFormat, actual: ImageFormat?, firstBytes: ArraySlice<UInt8>, part: String?
    ) -> HTTPError {
        let found =
            actual.map { "the bytes are a \($0.rawValue) image; send Content-Type: \($0.mediaType)" }
            ?? "\(ImageError.unknownFormat(firstBytes: Array(firstBytes)))"
        return HTTPError(
            status: .unprocessableContent, code: "image_type_mismatch",
            message: (part.map { "\($0): " } ?? "") + "declared as \(declared.mediaType), but " + found)
    }
}
