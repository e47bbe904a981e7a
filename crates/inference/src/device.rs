//! Which device a model runs on: parsed from `auto`, `cpu`, `cuda:N`, `metal` or `vulkan:N`, and
//! resolved against the devices this build of llama.cpp actually has.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A compute device for inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The best device built in: a GPU (CUDA, Metal, Vulkan) when one is present, else the CPU.
    #[default]
    Auto,
    /// The CPU only.
    Cpu,
    /// The N-th CUDA GPU (needs the `cuda` feature).
    Cuda(u32),
    /// Apple's GPU (needs the `metal` feature).
    Metal,
    /// The N-th Vulkan GPU (needs the `vulkan` feature).
    Vulkan(u32),
}

impl Device {
    /// The device family as [`CapabilitiesResponse::device`](neuronet_synapse::proto::CapabilitiesResponse)
    /// names it: `cpu`, `cuda`, `metal` or `vulkan` (`auto` for an unresolved `Auto`).
    pub fn family(&self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
            Device::Metal => "metal",
            Device::Vulkan(_) => "vulkan",
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let (name, index) = match lower.split_once(':') {
            Some((name, index)) => {
                let index = index.parse::<u32>().map_err(|_| Error::InvalidDevice(text.to_owned()))?;
                (name, Some(index))
            }
            None => (lower.as_str(), None),
        };
        match (name, index) {
            ("auto", None) => Ok(Device::Auto),
            ("cpu", None) => Ok(Device::Cpu),
            ("metal", None) => Ok(Device::Metal),
            ("cuda", index) => Ok(Device::Cuda(index.unwrap_or(0))),
            ("vulkan", index) => Ok(Device::Vulkan(index.unwrap_or(0))),
            _ => Err(Error::InvalidDevice(text.to_owned())),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cuda(index) => write!(f, "cuda:{index}"),
            Device::Vulkan(index) => write!(f, "vulkan:{index}"),
            other => f.write_str(other.family()),
        }
    }
}

/// A device llama.cpp reports: its backend (`CPU`, `CUDA`, `Metal`, `Vulkan`...) and whether it
/// is a GPU. The facts [`resolve`] decides from, so that the decision is testable without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendDevice {
    /// llama.cpp's index of the device (for `LlamaModelParams::with_devices`).
    pub index: usize,
    /// The backend's name as llama.cpp reports it (`CUDA`, `Metal`, `Vulkan`, `CPU`...).
    pub backend: String,
    /// The device's description (the GPU's name).
    pub description: String,
    /// Whether the device is a (discrete or integrated) GPU.
    pub is_gpu: bool,
}

/// Where a model goes: the CPU, or one llama.cpp device (by index) with every layer offloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The device resolved to (never [`Device::Auto`]).
    pub device: Device,
    /// llama.cpp's index of the GPU, `None` on the CPU.
    pub gpu_index: Option<usize>,
    /// A human-readable description for logs.
    pub description: String,
}

/// Resolves `requested` against the devices llama.cpp found: `Auto` takes the first GPU (CUDA
/// before Metal before Vulkan) or else the CPU; a named GPU that is not there is an error.
pub fn resolve(requested: Device, devices: &[BackendDevice]) -> Result<Placement, Error> {
    let nth_gpu = |backend: &str, n: u32| {
        devices.iter().filter(|device| device.is_gpu && device.backend.eq_ignore_ascii_case(backend)).nth(n as usize)
    };
    let place = |device: Device, found: &BackendDevice| Placement {
        device,
        gpu_index: Some(found.index),
        description: format!("{} ({})", found.description, found.backend),
    };
    let cpu = Placement { device: Device::Cpu, gpu_index: None, description: "CPU".to_owned() };
    let unavailable =
        |reason: &str| Error::DeviceUnavailable { requested: requested.to_string(), reason: reason.to_owned() };
    match requested {
        Device::Cpu => Ok(cpu),
        Device::Auto => Ok([("CUDA", Device::Cuda(0)), ("Metal", Device::Metal), ("Vulkan", Device::Vulkan(0))]
            .into_iter()
            .find_map(|(backend, device)| nth_gpu(backend, 0).map(|found| place(device, found)))
            .unwrap_or(cpu)),
        Device::Cuda(n) => nth_gpu("CUDA", n).map(|found| place(requested, found)).ok_or_else(|| {
            unavailable(if cfg!(feature = "cuda") { "no such CUDA device" } else { "built without the cuda feature" })
        }),
        Device::Metal => nth_gpu("Metal", 0).map(|found| place(requested, found)).ok_or_else(|| {
            unavailable(if cfg!(feature = "metal") { "no Metal device" } else { "built without the metal feature" })
        }),
        Device::Vulkan(n) => nth_gpu("Vulkan", n).map(|found| place(requested, found)).ok_or_else(|| {
            unavailable(if cfg!(feature = "vulkan") {
                "no such Vulkan device"
            } else {
                "built without the vulkan feature"
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: usize, backend: &str) -> BackendDevice {
        BackendDevice { index, backend: backend.to_owned(), description: format!("gpu{index}"), is_gpu: true }
    }

    #[test]
    fn device_strings_parse_and_print_back() {
        for (text, device) in [
            ("auto", Device::Auto),
            ("cpu", Device::Cpu),
            ("CUDA", Device::Cuda(0)),
            ("cuda:1", Device::Cuda(1)),
            ("metal", Device::Metal),
            ("vulkan:2", Device::Vulkan(2)),
        ] {
            assert_eq!(text.parse::<Device>().unwrap(), device, "{text}");
        }
        assert_eq!(Device::Cuda(3).to_string(), "cuda:3");
        for bad in ["", "gpu", "cuda:x", "cpu:1", "metal:0", "cuda:-1"] {
            assert!(matches!(bad.parse::<Device>(), Err(Error::InvalidDevice(_))), "{bad}");
        }
    }

    #[test]
    fn auto_prefers_a_gpu_and_falls_back_to_the_cpu() {
        let cpu = BackendDevice { index: 0, backend: "CPU".into(), description: "cpu".into(), is_gpu: false };
        assert_eq!(resolve(Device::Auto, std::slice::from_ref(&cpu)).unwrap().device, Device::Cpu);
        let placement = resolve(Device::Auto, &[cpu.clone(), gpu(1, "Vulkan"), gpu(2, "CUDA")]).unwrap();
        assert_eq!((placement.device, placement.gpu_index), (Device::Cuda(0), Some(2)));
        let placement = resolve(Device::Cuda(1), &[cpu.clone(), gpu(1, "CUDA"), gpu(2, "CUDA")]).unwrap();
        assert_eq!(placement.gpu_index, Some(2));
    }

    #[test]
    fn a_missing_gpu_is_an_error_not_a_silent_cpu_fallback() {
        assert!(matches!(resolve(Device::Cuda(0), &[]), Err(Error::DeviceUnavailable { .. })));
        assert!(matches!(resolve(Device::Cuda(1), &[gpu(0, "CUDA")]), Err(Error::DeviceUnavailable { .. })));
        assert!(matches!(resolve(Device::Metal, &[gpu(0, "CUDA")]), Err(Error::DeviceUnavailable { .. })));
    }
}
