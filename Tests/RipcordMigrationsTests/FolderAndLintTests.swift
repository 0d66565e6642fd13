import Foundation
@testable import RipcordMigrations
import RipcordTestSupport
import Testing

@Suite(.tags(.unit))
struct FolderTests {
    @Test
    func versionsCompareNumericallyByParts() throws {
        let sorted = ["1.10", "1.9", "2", "1", "1.2.3", "10", "1_1"].map { MigrationVersion($0)! }.sorted().map(\.description)
        #expect(sorted == ["1", "1.1", "1.2.3", "1.9", "1.10", "2", "10"])
        #expect(MigrationVersion("1.0") == MigrationVersion("1"))
        #expect(MigrationVersion("1.a") == nil && MigrationVersion("") == nil && MigrationVersion("1..2") == nil)
    }

    @Test
    func theFolderPairsApplyAndUndoScriptsInVersionOrder() throws {
        let folder = try MigrationFolder(
            path: try migrationFolder([
                "V1.10__ten.sql": "SELECT 1;", "V1.9__nine.sql": "SELECT 1;", "U1.9__nine.sql": "SELECT 2;", "R__view.sql": "SELECT 3;",
                "README.md": "not a migration",
            ]))
        #expect(folder.migrations.map(\.apply.fileName) == ["V1.9__nine.sql", "V1.10__ten.sql"])
        #expect(folder.migrations.map { $0.undo?.fileName } == ["U1.9__nine.sql", nil])
        #expect(folder.migrations[0].apply.description == "nine")
        #expect(folder.repeatables.map(\.fileName) == ["R__view.sql"])
    }

    @Test
    func verifyScriptsAndCallbacksAreNotMigrations() throws {
        let folder = try MigrationFolder(
            path: try migrationFolder([
                "V1__users.sql": "SELECT 1;", "V1__users.verify.sql": "SELECT 2;", "beforeMigrate.sql": "SELECT 3;",
                "afterMigrate__b.sql": "SELECT 5;", "afterMigrate__a.sql": "SELECT 4;",
            ]))
        #expect(folder.migrations.map(\.apply.fileName) == ["V1__users.sql"])
        #expect(folder.migrations[0].verify == AuxiliaryScript(fileName: "V1__users.verify.sql", sql: "SELECT 2;"))
        #expect(folder.callbacks[.beforeMigrate]?.map(\.fileName) == ["beforeMigrate.sql"])
        #expect(folder.callbacks[.afterMigrate]?.map(\.fileName) == ["afterMigrate__a.sql", "afterMigrate__b.sql"])
    }

    @Test(arguments: [
        (["V1_create.sql": ""], "V1_create.sql: not a migration name"),
        (["v1__create.sql": ""], "v1__create.sql: not a migration name"),
        (["V1.x__create.sql": ""], "V1.x__create.sql: `1.x` is not a version"),
        (["V1__.sql": ""], "V1__.sql: the description after `__` is empty"),
        (["R2__view.sql": ""], "R2__view.sql: a repeatable migration has no version"),
        (["V1__a.sql": "", "V1.0__b.sql": ""], "V1__a.sql: version 1 is also used by V1.0__b.sql"),
        (["U3__orphan.sql": ""], "U3__orphan.sql: undoes version 3, but there is no V3__….sql"),
        (["V1__a.sql": "-- ripcord:allow no-such-rule\nSELECT 1;"], "V1__a.sql:1: unknown lint rule `no-such-rule`"),
        (["V1__a.sql": "-- ripcord:transactionless\nSELECT 1;"], "V1__a.sql:1: unknown directive `ripcord:transactionless`"),
        (
            ["V1__a.sql": "-- ripcord:nontransactional\nCREATE INDEX CONCURRENTLY a ON t (x);\nCREATE INDEX CONCURRENTLY b ON t (y);"],
            "V1__a.sql:3: a non-transactional migration must hold exactly one statement; it holds 2"
        ),
        (["beforeInfo.sql": "SELECT 1;"], "beforeInfo.sql: Ripcord runs no `beforeInfo` callback; it runs beforeMigrate"),
        (["V1__a.sql": "SELECT 1;", "V2__b.verify.sql": "SELECT 1;"], "V2__b.verify.sql: verifies V2__b.sql, which is not in the folder"),
    ])
    func badFilesAreErrorsNamingTheFile(files: [String: String], message: String) throws {
        let folder = try migrationFolder(files)
        let error = #expect(throws: MigrationError.self) { try MigrationFolder(path: folder) }
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test
    func aNonTransactionalScriptWithOneStatementIsAccepted() throws {
        let folder = try MigrationFolder(
            path: try migrationFolder([
                "V1__index.sql": "-- an index\n-- ripcord:nontransactional\nCREATE INDEX CONCURRENTLY a ON t (x);\n-- done\n"
            ]))
        #expect(folder.migrations[0].apply.isTransactional == false)
    }

    @Test
    func statementsSplitOnlyOnTopLevelSemicolons() {
        let statements = SQLText.statements(
            """
            INSERT INTO t VALUES ('a;b', "c;d"); -- comment; here
            /* block; /* nested; */ still */ CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = 1; DELETE FROM u; END;
            SELECT $1
            """)
        #expect(statements.map(\.line) == [1, 2, 3, 4])
        #expect(statements.map { $0.keywords.first } == ["INSERT", "CREATE", "CREATE", "SELECT"])
        #expect(statements[2].text.hasSuffix("END"))
    }
}

@Suite(.tags(.unit))
struct LintTests {
    /// Each rule: a script that breaks the running version, and its expand/contract alternative that passes.
    static let cases: [(LintRule, String, String)] = [
        (.dropTable, "DROP TABLE IF EXISTS legacy_orders;", "CREATE TABLE orders_archive (id INTEGER);"),
        (.dropColumn, "ALTER TABLE users DROP COLUMN nickname;", "ALTER TABLE users ALTER COLUMN nickname SET DEFAULT '';"),
        (.renameTable, "ALTER TABLE users RENAME TO customers;", "CREATE VIEW customers AS SELECT * FROM users;"),
        (.renameColumn, "ALTER TABLE users RENAME COLUMN name TO full_name;", "ALTER TABLE users ADD COLUMN full_name TEXT;"),
        (
            .notNullColumnWithoutDefault, "ALTER TABLE users ADD COLUMN plan TEXT NOT NULL;",
            "ALTER TABLE users ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';"
        ),
        (.changeColumnType, "ALTER TABLE users ALTER COLUMN age TYPE bigint;", "ALTER TABLE users ADD COLUMN age_bigint bigint;"),
        (.changeColumnType, "ALTER TABLE users ALTER COLUMN age SET DATA TYPE bigint;", "UPDATE users SET age_bigint = age;"),
        (
            .indexWithoutConcurrently, "CREATE INDEX users_email ON users (email);",
            "-- ripcord:nontransactional\nCREATE INDEX CONCURRENTLY users_email ON users (email);"
        ),
        (.indexWithoutConcurrently, "DROP INDEX users_email;", "-- ripcord:nontransactional\nDROP INDEX CONCURRENTLY users_email;"),
        (
            .constraintWithoutNotValid, "ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id);",
            "ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;"
        ),
        (.constraintWithoutNotValid, "ALTER TABLE orders ADD CHECK (total >= 0);", "ALTER TABLE orders ADD CHECK (total >= 0) NOT VALID;"),
        (
            .setNotNull, "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE users ADD CONSTRAINT email_present CHECK (email IS NOT NULL) NOT VALID;"
        ),
        (.dropNotNull, "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;", "ALTER TABLE users ALTER COLUMN email SET DEFAULT '';"),
        (.volatileDefault, "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", "ALTER TABLE users ADD COLUMN token uuid;"),
        (.volatileDefault, "ALTER TABLE users ADD COLUMN score float DEFAULT random();", "ALTER TABLE users ADD COLUMN score float DEFAULT 0.5;"),
        (
            .volatileDefault, "ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT now();",
            "ALTER TABLE users ADD COLUMN created_at timestamptz;\nALTER TABLE users ALTER COLUMN created_at SET DEFAULT now();"
        ),
        (
            .addColumnReferences, "ALTER TABLE orders ADD COLUMN team_id bigint REFERENCES teams (id);",
            "ALTER TABLE orders ADD COLUMN team_id bigint;\nALTER TABLE orders ADD CONSTRAINT orders_team FOREIGN KEY (team_id) REFERENCES teams (id) NOT VALID;"
        ),
        (
            .constraintBuildsIndex, "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email;"
        ),
        (.constraintBuildsIndex, "ALTER TABLE events ADD PRIMARY KEY (id);", "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id;"),
        (.serialColumn, "ALTER TABLE events ADD COLUMN id bigserial;", "ALTER TABLE events ADD COLUMN id bigint;"),
        (.serialColumn, "ALTER TABLE events ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;", "CREATE SEQUENCE events_id;"),
        (
            .storedGeneratedColumn, "ALTER TABLE orders ADD COLUMN cents bigint GENERATED ALWAYS AS (total * 100) STORED;",
            "ALTER TABLE orders ADD COLUMN cents bigint;"
        ),
        (.vacuumFull, "VACUUM FULL orders;", "-- ripcord:nontransactional\nVACUUM orders;"),
        (.truncate, "TRUNCATE sessions;", "DELETE FROM sessions WHERE id < 1000;"),
        (.lockTable, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;", "SET lock_timeout = '2s';"),
        (.dropView, "DROP VIEW user_names;", "DROP VIEW IF EXISTS user_names;\nCREATE VIEW user_names AS SELECT name FROM users;"),
        (.dropView, "DROP MATERIALIZED VIEW IF EXISTS totals;", "REFRESH MATERIALIZED VIEW totals;"),
        (.renameView, "ALTER VIEW user_names RENAME TO customer_names;", "CREATE VIEW customer_names AS SELECT * FROM user_names;"),
        (
            .dropFunction, "DROP FUNCTION IF EXISTS order_total(integer);",
            "CREATE OR REPLACE FUNCTION order_total(id integer) RETURNS integer AS $$ SELECT 1 $$ LANGUAGE sql;"
        ),
        (
            .renameFunction, "ALTER FUNCTION order_total(integer) RENAME TO total_of;",
            "CREATE FUNCTION total_of(id integer) RETURNS integer AS $$ SELECT order_total(id) $$ LANGUAGE sql;"
        ),
        (
            .concurrentlyInTransaction, "CREATE INDEX CONCURRENTLY users_email ON users (email);",
            "-- ripcord:nontransactional\nCREATE INDEX CONCURRENTLY users_email ON users (email);"
        ),
        (.concurrentlyInTransaction, "REINDEX INDEX CONCURRENTLY users_email;", "-- ripcord:nontransactional\nREINDEX INDEX CONCURRENTLY users_email;"),
    ]

    @Test
    func everyRuleHasACaseThatBreaksIt() {
        #expect(Set(Self.cases.map(\.0)).union([.undoDropsCreated]) == Set(LintRule.allCases))
    }

    @Test(arguments: cases)
    func eachRuleCatchesItsChangeAndPassesTheAlternative(rule: LintRule, breaking: String, alternative: String) throws {
        let findings = try Self.findings(["V7__change.sql": "-- a change\n\(breaking)\n"])
        #expect(findings.map(\.rule) == [rule])
        #expect(findings.first?.file == "V7__change.sql" && findings.first?.line == 2)
        #expect(findings.first?.description.contains("Instead: \(rule.alternative)") == true)
        #expect(try Self.findings(["V7__change.sql": alternative]).isEmpty)
        #expect(try Self.findings(["V7__change.sql": "-- ripcord:allow \(rule.rawValue)\n\(breaking)"]).isEmpty)
    }

    @Test
    func anUndoMayDropWhatItsMigrationCreatedButNotWithCascade() throws {
        let apply = "CREATE TABLE IF NOT EXISTS coupons (code TEXT);\nALTER TABLE users ADD COLUMN coupon TEXT;\nCREATE VIEW coupon_codes AS SELECT code FROM coupons;\n"
        #expect(
            try Self.findings([
                "V3__coupons.sql": apply,
                "U3__coupons.sql": "DROP VIEW coupon_codes;\nALTER TABLE users DROP COLUMN coupon;\nDROP TABLE coupons;\n",
            ]).isEmpty)
        let findings = try Self.findings([
            "V3__coupons.sql": apply,
            "U3__coupons.sql": "ALTER TABLE users DROP COLUMN coupon CASCADE;\nDROP TABLE coupons CASCADE;\n",
        ])
        #expect(findings.map(\.rule) == [.undoDropsCreated, .undoDropsCreated])
        #expect(findings.map(\.file) == ["U3__coupons.sql", "U3__coupons.sql"] && findings.map(\.line) == [1, 2])
        let other = try Self.findings(["V3__coupons.sql": apply, "U3__coupons.sql": "DROP TABLE vouchers;\n"])
        #expect(other.map(\.rule) == [.dropTable], "an undo dropping what its migration did not create breaks the older version")
    }

    @Test
    func changesToATableTheScriptCreatesAreNotFindings() throws {
        #expect(try Self.findings(["V1__a.sql": "CREATE TABLE t (x int);\nALTER TABLE t ADD COLUMN id bigserial, ADD PRIMARY KEY (id);"]).isEmpty)
    }

    @Test
    func crlfCheckoutsHaveTheChecksumOfTheLFFile() throws {
        let lf = try MigrationFolder(path: try migrationFolder(["V1__a.sql": "-- ripcord:nontransactional\nVACUUM;\n"]))
        let crlf = try MigrationFolder(path: try migrationFolder(["V1__a.sql": "-- ripcord:nontransactional\r\nVACUUM;\r\n"]))
        #expect(crlf.migrations[0].apply.checksum == lf.migrations[0].apply.checksum)
        #expect(crlf.migrations[0].apply.isTransactional == false, "the header is read line by line")
        #expect(lf.migrations[0].apply.checksum == MigrationScript.checksum(of: "-- ripcord:nontransactional\nVACUUM;\n"), "LF checksums stay as stored")
    }

    @Test
    func indexRulesApplyToPostgreSQLOnlyAndNotToANewTable() throws {
        #expect(try Self.findings(["V1__a.sql": "CREATE INDEX a ON users (x);"], dialect: .sqlite).isEmpty)
        #expect(try Self.findings(["V1__a.sql": "CREATE TABLE t (x int);\nCREATE UNIQUE INDEX t_x ON t (x);"]).isEmpty)
    }

    static func findings(_ files: [String: String], dialect: SQLDialect = .postgres) throws -> [LintFinding] {
        MigrationLint.findings(in: try MigrationFolder(path: try migrationFolder(files)), dialect: dialect)
    }
}
