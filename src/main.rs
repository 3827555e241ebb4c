fn main() -> std::process::ExitCode {
    sdk_relay::cli::run()
}
