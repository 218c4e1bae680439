import FileFormats
import Foundation
import GTN

extension ShardResult {
    /// Writes the shard atomically (snake_case JSON), so a killed shard leaves no half file.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(self), to: url)
    }

    public static func read(from url: URL) throws -> ShardResult {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw NASError("\(url.path): cannot read the shard result (\(error.localizedDescription))")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(ShardResult.self, from: data)
        } catch {
            throw NASError("\(url.path): not a `gtn nas` shard result (\(error))")
        }
    }

    /// The conventional file name of shard `i/n`, so every task of an array job can share one command line.
    public static func fileName(for shard: ShardSpec) -> String { "nas-shard-\(shard.index)-of-\(shard.count).json" }
}
