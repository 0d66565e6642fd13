import RipcordAPI
import RipcordController

// The API's routes reach the controller and the guarded flag rollouts through these protocols.
extension Controller: RolloutOperations {}
extension FlagRolloutRunner: GuardedFlagRollouts {}
extension RipcordServer: ConfigurationReloading {}
