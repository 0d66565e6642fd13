/// What this build is: shown by `ripcord --version` and exported as `ripcord_build_info`.
public enum RipcordBuild {
    public static let version = "0.1.0"
}
