import RipcordCore

/// A drill's fault on one request, decided on the event loop when the request is sent to a backend
/// that carries one (`ripcord drill`): the router corrupts the candidate's traffic itself, so a service
/// is drilled without being changed.
enum FaultInjection: Equatable {
    case none
    /// Answer 503 without asking the backend (counted as the backend's 5xx).
    case answerError
    /// Close the client's connection without an answer (counted as a connection failure).
    case cutOff
    /// Hold the request this long before sending it on.
    case delay(milliseconds: Int)

    static func decide(_ fault: InjectedFault, roll: Int = Int.random(in: 0..<100)) -> FaultInjection {
        switch fault {
        case let .errors(percent): roll < percent ? .answerError : .none
        case let .abort(percent): roll < percent ? .cutOff : .none
        case let .latency(milliseconds): .delay(milliseconds: milliseconds)
        case .crash: .none
        }
    }
}
