import Foundation
import RipcordConfig
import RipcordCore
import Testing

extension ConfigLoaderTests {
    static let oneService = "services:\n  a:\n    listen: 127.0.0.1:8080\n    run: { command: 'a {port}' }\n"

    @Test func theBuiltInRouterIsTheDefaultTrafficManager() throws {
        #expect(try parse(Self.oneService).traffic == .router)
        #expect(try parse(Self.oneService + "traffic: { manager: router }").traffic == .router)
    }

    @Test func haproxyAndNginxAreReadWithDefaultsAndRelativePaths() throws {
        let haproxy = try parse(Self.oneService + "traffic: { manager: haproxy, socket: run/admin.sock, slots: 12 }")
        #expect(haproxy.traffic == .haproxy(HAProxySpec(socket: "/etc/ripcord/run/admin.sock", backendPrefix: "ripcord_", slots: 12)))
        let nginx = try parse(Self.oneService + "traffic:\n  manager: nginx\n  configFile: /etc/nginx/conf.d/ripcord.conf\n  reload: systemctl reload nginx\n")
        #expect(
            nginx.traffic
                == .nginx(
                    NginxSpec(
                        configFile: "/etc/nginx/conf.d/ripcord.conf", reload: "systemctl reload nginx",
                        accessLog: "/var/log/nginx/ripcord-access.log")))
    }

    @Test func badTrafficSettingsNameTheirLineAndField() throws {
        let unknown = try #require(error(Self.oneService + "traffic:\n  manager: envoy\n"))
        #expect(unknown.key == "traffic.manager" && unknown.line == 6 && unknown.message.contains("router, haproxy, nginx"))
        let noSocket = try #require(error(Self.oneService + "traffic: { manager: haproxy }"))
        #expect(noSocket.key == "traffic" && noSocket.message.contains("'socket'"))
        let stray = try #require(error(Self.oneService + "traffic: { manager: nginx, configFile: /x, socket: /y }"))
        #expect(stray.key == "traffic.socket")
        let slots = try #require(error(Self.oneService + "traffic: { manager: haproxy, socket: /s, slots: 0 }"))
        #expect(slots.key == "traffic.slots")
        let ephemeral = try #require(error(Self.oneService.replacingOccurrences(of: "8080", with: "0") + "traffic: { manager: haproxy, socket: /s }"))
        #expect(ephemeral.key == "traffic" && ephemeral.message.contains("services.a.listen") && ephemeral.message.contains("fixed"))
    }
}
