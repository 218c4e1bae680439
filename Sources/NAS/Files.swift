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

    /// Where shard `i/n` keeps its finished candidates while it runs (`NASRunner.run(shard:savingProgressTo:)`).
    public static func partialFileName(for shard: ShardSpec) -> String { "nas-shard-\(shard.index)-of-\(shard.count).partial.json" }

    /// Checks that this partial result (read from `file`) was saved by the run `fresh` starts
    /// again: the same fingerprint and shard, and rows only of the shard's candidates (`owned`).
    func checkContinues(_ fresh: ShardResult, ownedBy owned: [Int], file: String) throws {
        let advice = "delete it to start this search afresh, or give this run another --shard-dir"
        guard format == fresh.format else {
            throw NASError("\(file): format '\(format)' is not '\(fresh.format)' (saved by another version of gtn); \(advice)")
        }
        guard fingerprint == fresh.fingerprint else {
            let fields = fingerprint.differences(from: fresh.fingerprint)
            throw NASError("\(file) holds the finished candidates of a different search (it differs in \(fields.joined(separator: ", "))); \(advice)")
        }
        guard shard == fresh.shard else {
            throw NASError("\(file) holds shard \(shard), not \(fresh.shard); \(advice)")
        }
        let mine = Set(owned)
        var seen = Set<Int>()
        for row in rows {
            guard mine.contains(row.index), row.candidate == fresh.candidates[row.index] else {
                throw NASError("\(file): row \(row.index) (\(row.candidate)) is not a candidate of shard \(shard); \(advice)")
            }
            guard seen.insert(row.index).inserted else { throw NASError("\(file): candidate \(row.index) appears twice; \(advice)") }
        }
    }
}
