//! Finding adapters: [`GpuSelection`] (`--gpu all|0,1`) and [`AdapterSummary`].

use std::fmt;
use std::str::FromStr;

use crate::GpuError;

/// The backends the engine uses: native compute APIs with 64-bit integer support where the
/// hardware has it. (GL has neither reliable compute nor `u64`; WebGPU is not a miner's target.)
pub(crate) const BACKENDS: wgpu::Backends = wgpu::Backends::VULKAN
    .union(wgpu::Backends::METAL)
    .union(wgpu::Backends::DX12);

/// Which adapters to mine on: `all`, or indices into [`adapters`]' list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuSelection {
    /// Every adapter found, software adapters (such as lavapipe) included.
    All,
    /// These indices of [`adapters`]' list, in this order, without repeats.
    Indices(Vec<usize>),
}

impl FromStr for GpuSelection {
    type Err = GpuError;

    /// `all`, or comma-separated indices (`0,1`).
    fn from_str(text: &str) -> Result<GpuSelection, GpuError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(GpuSelection::All);
        }
        let mut indices = Vec::new();
        for part in text.split(',') {
            let index: usize = part
                .trim()
                .parse()
                .map_err(|_| GpuError::InvalidSelection(text.to_string()))?;
            if !indices.contains(&index) {
                indices.push(index);
            }
        }
        Ok(GpuSelection::Indices(indices))
    }
}

impl fmt::Display for GpuSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuSelection::All => f.write_str("all"),
            GpuSelection::Indices(indices) => {
                let parts: Vec<String> = indices.iter().map(|i| i.to_string()).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// One adapter as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdapterSummary {
    /// Position in [`adapters`]' list (what `--gpu 0,1` refers to).
    pub index: usize,
    /// The adapter's name, as the driver reports it.
    pub name: String,
    /// The API it is driven through: `Vulkan`, `Metal` or `Dx12`.
    pub backend: String,
    /// Discrete / integrated / virtual GPU, or a software adapter.
    pub kind: String,
    /// A software (CPU) implementation such as lavapipe: correct, but no GPU speed.
    pub software: bool,
    /// The driver's name and version.
    pub driver: String,
    /// Whether shaders may use 64-bit integers (`SHADER_INT64`).
    pub int64: bool,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({}, {}",
            self.index, self.name, self.backend, self.kind
        )?;
        if !self.driver.is_empty() {
            write!(f, ", driver {}", self.driver)?;
        }
        f.write_str(")")
    }
}

pub(crate) fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: BACKENDS,
        // No validation layers or debug labels: a miner runs release shaders. WGPU_* variables
        // still turn them on for debugging.
        flags: wgpu::InstanceFlags::empty().with_env(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

fn summarize(index: usize, adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "software adapter",
        wgpu::DeviceType::Other => "other adapter",
    };
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    AdapterSummary {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        kind: kind.to_string(),
        software,
        driver,
        int64: adapter.features().contains(wgpu::Features::SHADER_INT64),
    }
}

/// Every usable adapter, in index order: Vulkan first, then Metal, then DX12, each physical
/// device once (a GPU reachable through two APIs is listed under the first).
pub(crate) fn enumerate(instance: &wgpu::Instance) -> Vec<(AdapterSummary, wgpu::Adapter)> {
    let mut found: Vec<wgpu::Adapter> = Vec::new();
    for backend in [
        wgpu::Backends::VULKAN,
        wgpu::Backends::METAL,
        wgpu::Backends::DX12,
    ] {
        for adapter in pollster::block_on(instance.enumerate_adapters(backend)) {
            let info = adapter.get_info();
            let compute = adapter
                .get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
            let duplicate = found.iter().any(|a| {
                let seen = a.get_info();
                seen.vendor == info.vendor && seen.device == info.device && seen.name == info.name
            });
            if compute && !duplicate {
                found.push(adapter);
            }
        }
    }
    found
        .into_iter()
        .enumerate()
        .map(|(index, adapter)| (summarize(index, &adapter), adapter))
        .collect()
}

/// Every adapter the engine can mine on, software adapters included.
///
/// ```no_run
/// for adapter in nockpool_gpu::adapters() {
///     println!("{adapter}");
/// }
/// ```
pub fn adapters() -> Vec<AdapterSummary> {
    enumerate(&instance())
        .into_iter()
        .map(|(summary, _)| summary)
        .collect()
}

/// The adapters `selection` names, in its order.
pub(crate) fn select(
    selection: &GpuSelection,
    mut all: Vec<(AdapterSummary, wgpu::Adapter)>,
) -> Result<Vec<(AdapterSummary, wgpu::Adapter)>, GpuError> {
    if all.is_empty() {
        return Err(GpuError::NoAdapter);
    }
    match selection {
        GpuSelection::All => Ok(all),
        GpuSelection::Indices(indices) => {
            let found = all.len();
            if let Some(&index) = indices.iter().find(|&&i| i >= found) {
                return Err(GpuError::NoSuchAdapter { index, found });
            }
            if indices.is_empty() {
                return Err(GpuError::InvalidSelection(String::new()));
            }
            let mut slots: Vec<Option<(AdapterSummary, wgpu::Adapter)>> =
                all.drain(..).map(Some).collect();
            Ok(indices.iter().filter_map(|&i| slots[i].take()).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_parses() {
        assert_eq!("all".parse::<GpuSelection>().unwrap(), GpuSelection::All);
        assert_eq!(" ALL ".parse::<GpuSelection>().unwrap(), GpuSelection::All);
        assert_eq!(
            "0,1".parse::<GpuSelection>().unwrap(),
            GpuSelection::Indices(vec![0, 1])
        );
        assert_eq!(
            "2, 0,2".parse::<GpuSelection>().unwrap(),
            GpuSelection::Indices(vec![2, 0])
        );
        for bad in ["", "gpu0", "0,,1", "-1", "1;2"] {
            assert_eq!(
                bad.parse::<GpuSelection>(),
                Err(GpuError::InvalidSelection(bad.trim().to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(GpuSelection::Indices(vec![3, 1]).to_string(), "3,1");
    }

    #[test]
    fn selecting_from_no_adapters_is_a_clear_error() {
        let err = select(&GpuSelection::All, Vec::new()).unwrap_err();
        assert_eq!(err, GpuError::NoAdapter);
        assert!(err.to_string().contains("mesa-vulkan-drivers"));
        assert_eq!(
            select(&GpuSelection::Indices(vec![0]), Vec::new()).unwrap_err(),
            GpuError::NoAdapter
        );
    }
}
