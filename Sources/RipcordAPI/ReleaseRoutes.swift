import Hummingbird
import RipcordCore
import RipcordWire

extension ReleaseSummary: ResponseEncodable {}
extension ReleaseDetail: ResponseEncodable {}

extension RipcordAPI {
    /// Releases: several services rolled out, promoted and rolled back as one unit.
    static func addReleaseRoutes(to api: RouterGroup<BasicRequestContext>, controller: some RolloutOperations, authenticator: TokenAuthenticator?) {
        @Sendable func actor(_ request: Request) -> String { RipcordAPI.actor(request, authenticator: authenticator) }
        api.post("releases") { request, context -> EditedResponse<ReleaseDetail> in
            let asked = try await body(ReleaseRequest.self, request, context, limit: BodyLimit.large)
            try InputValidation.release(asked.manifest)
            let release = try await controller.applyRelease(
                asked.manifest, acceptAppOnlyRollback: asked.acceptAppOnlyRollback ?? false,
                actor: actor(request))
            return EditedResponse(status: .accepted, response: try await controller.releaseDetail(id: release.id))
        }
        api.get("releases") { request, _ -> [ReleaseSummary] in
            try await controller.releaseHistory(limit: Int(min(try integer(request, "limit") ?? 100, 1000)))
        }
        api.get("releases/:id") { _, context -> ReleaseDetail in
            try await controller.releaseDetail(id: try releaseID(context))
        }
        api.post("releases/undo") { request, _ -> EditedResponse<ReleaseDetail> in
            let release = try await controller.undoRelease(id: nil, actor: actor(request))
            return EditedResponse(status: .accepted, response: try await controller.releaseDetail(id: release.id))
        }
        api.post("releases/:id/undo") { request, context -> EditedResponse<ReleaseDetail> in
            let release = try await controller.undoRelease(id: try releaseID(context), actor: actor(request))
            return EditedResponse(status: .accepted, response: try await controller.releaseDetail(id: release.id))
        }
        api.post("releases/:id/promote") { request, context -> EditedResponse<Accepted> in
            let id = try releaseID(context)
            try await controller.promoteRelease(id: id, actor: actor(request))
            return EditedResponse(status: .accepted, response: Accepted(accepted: true, message: "promote sent to every service of release \(id)"))
        }
        api.post("releases/:id/abort") { request, context -> EditedResponse<Accepted> in
            let id = try releaseID(context)
            try await controller.abortRelease(id: id, reason: try await abortReason(request, context), actor: actor(request))
            return EditedResponse(status: .accepted, response: Accepted(accepted: true, message: "abort sent to every service of release \(id)"))
        }
    }

    private static func releaseID(_ context: BasicRequestContext) throws -> Int64 {
        try InputValidation.id(try context.parameters.require("id"))
    }
}
