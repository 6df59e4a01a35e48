fn main() -> std::process::ExitCode {
    lfb_core::cli::main(lfb_list::run)
}
