import Foundation

/// Every failure of this module: names the file (or flag / environment variable) and says
/// what is wrong with it.
public struct DatasetError: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// The file, directory, flag or variable the error is about (a path where there is one).
    public let subject: String
    /// What is wrong, in words.
    public let message: String

    public init(_ subject: String, _ message: String) {
        self.subject = subject
        self.message = message
    }

    public var description: String { "\(subject): \(message)" }
    /// So `error.localizedDescription` shows the message too, not a generic Foundation text.
    public var errorDescription: String? { description }
}
