import FileFormats
import Foundation

/// Reading IDX files from disk, gzip'd (`.gz`, or any file starting with the gzip magic) or not.
public enum IDXFile {
    /// Normalized pixels of an IDX image file (magic 2051), row-major.
    public static func readImages(_ url: URL) throws -> (count: Int, rows: Int, cols: Int, pixels: [Float]) {
        let images = try withContents(url) { try IDX.decodeImages($0, name: url.path) }
        return (images.count, images.rows, images.cols, images.pixels)
    }

    /// Labels of an IDX label file (magic 2049); each is checked to be in 0-9.
    public static func readLabels(_ url: URL) throws -> [Int32] {
        try withContents(url) { try IDX.decodeLabels($0, name: url.path) }
    }

    /// An image file and its label file; their counts must agree.
    public static func readLabeledImages(images imagesURL: URL, labels labelsURL: URL) throws -> LabeledImages {
        let images = try readImages(imagesURL)
        let labels = try readLabels(labelsURL)
        guard labels.count == images.count else {
            throw DatasetError(imagesURL.path, "holds \(images.count) images but \(labelsURL.path) holds \(labels.count) labels")
        }
        return LabeledImages(count: images.count, rows: images.rows, cols: images.cols, pixels: images.pixels, labels: labels)
    }

    /// Calls `body` with the file's (decompressed) bytes.
    static func withContents<R>(_ url: URL, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let path = url.path
        if fileKind(path) == .missing { throw DatasetError(path, "file does not exist") }
        let raw = try readWholeFile(path)
        // The gzip magic 1f 8b can never start an IDX file (whose first two bytes are zero),
        // so sniffing is unambiguous; a `.gz` name without the magic is an error.
        if url.pathExtension == "gz" || Gzip.hasMagic(raw.bytes) {
            let inflated: ByteBuffer
            do {
                inflated = try Gzip.decompress(raw.bytes, name: path)
            } catch let error as GzipError {
                throw DatasetError(error.name, error.message)
            }
            return try body(inflated.bytes)
        }
        return try body(raw.bytes)
    }
}
