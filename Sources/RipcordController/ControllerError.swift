import RipcordCore

/// A refused request (the one type the controller, the flag service and the migrations throw).
public typealias ControllerError = Refusal
