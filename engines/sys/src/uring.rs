//! Whether this kernel lets this process use io_uring, asked once before the `uring` engine
//! starts (and by the runner, which records its steps as "not supported here" when not).
//!
//! io_uring can be missing (a kernel before 5.1, or built without it: `ENOSYS`), switched off
//! (`kernel.io_uring_disabled = 2`, or `1` for a process outside `kernel.io_uring_group`:
//! `EPERM`), or filtered (a container's seccomp profile: `EPERM` or `ENOSYS`). A machine like
//! that is not one where the engine failed: it is one where the model cannot be measured.

use std::io;

/// `Ok` when a ring can be set up here; otherwise one line saying why not and what decides
/// it.
pub fn available() -> Result<(), String> {
    // The kernel's `struct io_uring_params`: 120 bytes, zeroed (no flags, default sizes).
    let mut params = [0u32; 30];
    // SAFETY: io_uring_setup(2) with one entry and a zeroed, correctly sized params struct,
    // which the kernel may write; the returned descriptor (if any) is ours and closed below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            1 as libc::c_uint,
            params.as_mut_ptr(),
        )
    };
    if fd >= 0 {
        // SAFETY: the descriptor was just returned to us and nothing else holds it.
        unsafe { libc::close(fd as libc::c_int) };
        return Ok(());
    }
    Err(unavailable(&io::Error::last_os_error()))
}

/// Why io_uring cannot be used, from the error of `io_uring_setup`, in one line.
pub fn unavailable(err: &io::Error) -> String {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .map(|v| v.trim().to_string());
    let setting = match disabled.as_deref() {
        Some("0") | None => String::new(),
        Some(v) => format!(", kernel.io_uring_disabled = {v}"),
    };
    match err.raw_os_error() {
        Some(libc::ENOSYS) => format!(
            "io_uring is not supported here: this kernel (or a seccomp filter) has no \
             io_uring_setup ({err}{setting})"
        ),
        Some(libc::EPERM | libc::EACCES) => format!(
            "io_uring is not supported here: the kernel refuses it to this process ({err}\
             {setting}; kernel.io_uring_disabled = 0 allows it, or a seccomp filter blocks it)"
        ),
        _ => format!("io_uring is not supported here: io_uring_setup failed ({err}{setting})"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reason_names_the_call_and_the_error() {
        let why = super::unavailable(&std::io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(why.starts_with("io_uring is not supported here"), "{why}");
        assert!(why.contains("io_uring_setup"), "{why}");
        assert!(!why.contains('\n'));
        let why = super::unavailable(&std::io::Error::from_raw_os_error(libc::EPERM));
        assert!(why.contains("io_uring_disabled"), "{why}");
    }
}
