//! [`GpuEngine`]: one adapter running the version-%5 search.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nockpool_core::{Digest, JobParams, Nonce, NonceRange, Target, P};
use nockpool_pow::field::montify;
use nockpool_pow::v5::V5Job;
use nockpool_pow::{PowEngine, PowError, PreparedJob, V5Engine};

use crate::adapter::{self, AdapterSummary, GpuSelection};
use crate::shader::{self, Arith, MAX_POW_LEN};
use crate::GpuError;

/// Search results read back with the count in one copy; more need a second copy.
const READBACK_INDICES: u64 = 1023;
/// Dispatches in flight per engine: one computing while the previous one is read back.
const SLOTS: usize = 2;
/// How long one dispatch may take before the device counts as hung.
const DISPATCH_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest batch, whatever the calibration says (bounds buffer sizes).
const MAX_BATCH: u32 = 1 << 24;
/// Workgroup sizes the calibration tries.
const WORKGROUP_SIZES: [u32; 3] = [64, 128, 256];

/// Settings for opening GPU engines; [`GpuEngine::builder`].
///
/// Left unset, the arithmetic path follows the adapter (`int64` where it has `SHADER_INT64`),
/// and the workgroup size and batch size are calibrated at start: each workgroup size is timed
/// on a growing dispatch, the fastest wins, and the batch is sized to take about
/// [`batch_time`](GpuEngineBuilder::batch_time) on the device.
#[derive(Clone, Debug)]
pub struct GpuEngineBuilder {
    arith: Option<Arith>,
    workgroup_size: Option<u32>,
    batch_size: Option<u32>,
    batch_time: Duration,
}

impl Default for GpuEngineBuilder {
    fn default() -> Self {
        GpuEngineBuilder {
            arith: None,
            workgroup_size: None,
            batch_size: None,
            batch_time: Duration::from_millis(25),
        }
    }
}

impl GpuEngineBuilder {
    /// Forces an arithmetic path ([`Arith::U32`] runs everywhere; [`Arith::U64`] needs
    /// `SHADER_INT64`, and opening fails without it).
    pub fn arith(mut self, arith: Arith) -> Self {
        self.arith = Some(arith);
        self
    }

    /// Fixes the workgroup size (skips its calibration); 1 to the adapter's limit.
    pub fn workgroup_size(mut self, size: u32) -> Self {
        self.workgroup_size = Some(size);
        self
    }

    /// Fixes the nonces per dispatch (skips its calibration); rounded up to whole workgroups.
    pub fn batch_size(mut self, nonces: u32) -> Self {
        self.batch_size = Some(nonces);
        self
    }

    /// The device time one dispatch should take (default 25 ms). A search stops within about
    /// two dispatches of its stop flag being set; longer dispatches waste less time on
    /// submission and read-back.
    pub fn batch_time(mut self, time: Duration) -> Self {
        self.batch_time = time;
        self
    }

    /// Opens an engine on every adapter `selection` names (see [`crate::adapters`]).
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] when there is none at all; [`GpuError::NoSuchAdapter`] for an
    /// index past the list; a device or shader error from the first adapter that fails.
    pub fn open(&self, selection: &GpuSelection) -> Result<Vec<GpuEngine>, GpuError> {
        self.validate()?;
        let instance = adapter::instance();
        let chosen = adapter::select(selection, adapter::enumerate(&instance))?;
        chosen
            .into_iter()
            .map(|(summary, adapter)| GpuEngine::open_adapter(self, summary, adapter))
            .collect()
    }

    fn validate(&self) -> Result<(), GpuError> {
        if self.workgroup_size == Some(0) {
            return Err(GpuError::InvalidSetting("workgroup size 0".into()));
        }
        if self.batch_size == Some(0) {
            return Err(GpuError::InvalidSetting("batch size 0".into()));
        }
        if self.batch_time.is_zero() {
            return Err(GpuError::InvalidSetting("batch time 0".into()));
        }
        Ok(())
    }
}

/// What an engine runs with, after calibration.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GpuEngineInfo {
    /// The adapter.
    pub adapter: AdapterSummary,
    /// The arithmetic path in the shader.
    pub arith: Arith,
    /// Invocations (nonces) per workgroup.
    pub workgroup_size: u32,
    /// Nonces per dispatch.
    pub batch_size: u32,
    /// Nonces per second measured during calibration (0 when both sizes were fixed): a sizing
    /// figure, not a benchmark.
    pub calibration_rate: f64,
}

impl std::fmt::Display for GpuEngineInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GPU {}; {} path, workgroup {}, batch {} nonces",
            self.adapter,
            self.arith.name(),
            self.workgroup_size,
            self.batch_size
        )
    }
}

/// The version-%5 search on one GPU adapter, bit-exact with [`nockpool_pow::v5::digest`].
///
/// [`search`](PowEngine::search) runs the nonces of its range on the device in batches (two
/// dispatches in flight), with nockpool's nonce layout (limb 4 prefix, limb 3 lane, limbs 0–2
/// a base-p counter) and the same target test as the CPU (`digest ≤ target`, most significant
/// limb first). Every candidate the device reports is recomputed on the CPU before it is passed
/// on: a share that leaves the engine is always right, and a device that reports a wrong
/// candidate is logged and counted ([`GpuEngine::mismatches`]). [`digest`](PowEngine::digest)
/// (one nonce) runs on the CPU.
///
/// Jobs with `pow_len` above 64 (Nockchain uses 64) are ground by the CPU kernel instead, with
/// a warning. A device that fails while mining logs the error and stops: its searches then
/// try nothing.
///
/// ```no_run
/// use std::sync::atomic::AtomicBool;
/// use nockpool_core::{Digest, JobParams, NonceRange, Target};
/// use nockpool_gpu::{GpuEngine, GpuSelection};
/// use nockpool_pow::PowEngine;
///
/// let engines = GpuEngine::open(&GpuSelection::All)?;
/// let gpu = &engines[0];
/// println!("{}", gpu.info());
/// let job = gpu.prepare(&JobParams::v5(Digest::new([1, 2, 3, 4, 5])?, 64)?)?;
/// let range = NonceRange { prefix: 7, lane: 1000, start: 0, count: 1 << 20 };
/// let tried = gpu.search(&job, range, &Target::MAX, &AtomicBool::new(false), &mut |nonce, digest| {
///     println!("{nonce:?} {digest:?}");
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GpuEngine {
    info: GpuEngineInfo,
    device: Mutex<Device>,
    failed: Arc<Mutex<Option<String>>>,
    mismatches: AtomicU64,
    cpu: V5Engine,
    warned_pow_len: AtomicBool,
}

/// The job payload [`GpuEngine::prepare`] stores.
#[derive(Clone)]
struct GpuJob {
    v5: V5Job,
    words: [u32; shader::JOB_WORDS],
}

impl GpuJob {
    fn new(v5: V5Job) -> GpuJob {
        let mut words = [0u32; shader::JOB_WORDS];
        let mut put = |at: usize, limbs: &[u64]| {
            for (k, &limb) in limbs.iter().enumerate() {
                let raw = montify(limb);
                words[at + 2 * k] = raw as u32;
                words[at + 2 * k + 1] = (raw >> 32) as u32;
            }
        };
        put(shader::JOB_COMMITMENT, v5.commitment().limbs());
        put(shader::JOB_H_PUZZLE, v5.h_puzzle().limbs());
        put(shader::JOB_H_LEN, v5.h_pow_len().limbs());
        put(shader::JOB_H_TAG, v5.h_tag().limbs());
        put(shader::JOB_LEN_PLUS_ONE, &[v5.pow_len() + 1]);
        words[shader::JOB_POW_LEN] = v5.pow_len() as u32;
        GpuJob { v5, words }
    }
}

/// The compiled entry points; the two diagnostic ones are compiled on first use (a driver
/// compile of this shader takes seconds on a software adapter).
struct Pipelines {
    module: wgpu::ShaderModule,
    layout: wgpu::PipelineLayout,
    search: wgpu::ComputePipeline,
    digests: Option<wgpu::ComputePipeline>,
    permutations: Option<wgpu::ComputePipeline>,
}

struct Slot {
    disp: wgpu::Buffer,
    out: wgpu::Buffer,
    staging: wgpu::Buffer,
    bind: wgpu::BindGroup,
}

struct Device {
    name: String,
    device: wgpu::Device,
    queue: wgpu::Queue,
    layout: wgpu::BindGroupLayout,
    consts: wgpu::Buffer,
    job: wgpu::Buffer,
    job_words: Option<[u32; shader::JOB_WORDS]>,
    pipelines: Pipelines,
    workgroup_size: u32,
    /// Capacity of each slot's result buffer, in nonces.
    slot_capacity: u32,
    slots: Vec<Slot>,
    max_workgroups: u32,
}

/// A dispatch in flight.
struct InFlight {
    slot: usize,
    submission: wgpu::SubmissionIndex,
    mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    offset: u64,
    count: u32,
}

fn words_to_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn bytes_to_words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn split(value: u64) -> [u32; 2] {
    [value as u32, (value >> 32) as u32]
}

fn join(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}

impl GpuEngine {
    /// Settings for opening engines.
    pub fn builder() -> GpuEngineBuilder {
        GpuEngineBuilder::default()
    }

    /// Opens an engine, calibrated, on every adapter `selection` names.
    ///
    /// # Errors
    /// As [`GpuEngineBuilder::open`].
    pub fn open(selection: &GpuSelection) -> Result<Vec<GpuEngine>, GpuError> {
        GpuEngine::builder().open(selection)
    }

    /// What the engine runs on and with.
    pub fn info(&self) -> &GpuEngineInfo {
        &self.info
    }

    /// Candidates the device reported that the CPU re-check refused (0 on a healthy device).
    pub fn mismatches(&self) -> u64 {
        self.mismatches.load(Ordering::Relaxed)
    }

    /// The error that stopped this device, if one did.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn open_adapter(
        settings: &GpuEngineBuilder,
        summary: AdapterSummary,
        adapter: wgpu::Adapter,
    ) -> Result<GpuEngine, GpuError> {
        let name = summary.name.clone();
        let arith = match settings.arith {
            Some(Arith::U64) if !summary.int64 => {
                return Err(GpuError::DeviceOpen {
                    device: name,
                    reason: "the int64 path was asked for but the adapter lacks SHADER_INT64"
                        .into(),
                })
            }
            Some(arith) => arith,
            None if summary.int64 => Arith::U64,
            None => Arith::U32,
        };
        let features = match arith {
            Arith::U64 => wgpu::Features::SHADER_INT64,
            Arith::U32 => wgpu::Features::empty(),
        };
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("nockpool-gpu"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::DeviceOpen {
            device: name.clone(),
            reason: e.to_string(),
        })?;

        let failed: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        {
            let failed = Arc::clone(&failed);
            let name = name.clone();
            device.on_uncaptured_error(Arc::new(move |err: wgpu::Error| {
                tracing::error!(gpu = %name, "GPU error: {err}");
                let mut slot = failed.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert_with(|| err.to_string());
            }));
        }
        {
            let failed = Arc::clone(&failed);
            device.set_device_lost_callback(move |reason, message| {
                let mut slot = failed.lock().unwrap_or_else(|e| e.into_inner());
                slot.get_or_insert_with(|| format!("device lost ({reason:?}): {message}"));
            });
        }

        let max_wg = limits
            .max_compute_invocations_per_workgroup
            .min(limits.max_compute_workgroup_size_x);
        let candidates: Vec<u32> = match settings.workgroup_size {
            Some(size) if size > max_wg => {
                return Err(GpuError::InvalidSetting(format!(
                    "workgroup size {size} exceeds the adapter's limit {max_wg}"
                )))
            }
            Some(size) => vec![size],
            None => WORKGROUP_SIZES
                .iter()
                .copied()
                .filter(|&s| s <= max_wg)
                .collect(),
        };
        if candidates.is_empty() {
            return Err(GpuError::DeviceOpen {
                device: name,
                reason: format!(
                    "workgroups of at least 64 invocations are needed (limit {max_wg})"
                ),
            });
        }
        let storage_limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let slot_capacity = u32::try_from((storage_limit / 4).saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(MAX_BATCH);

        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("nockpool-gpu"),
            entries: &[
                storage_entry(0, true),
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, false),
            ],
        });
        let consts = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("consts"),
            size: (shader::CONSTS_WORDS * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        queue.write_buffer(&consts, 0, &words_to_bytes(&shader::consts_words()));
        let job = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("job"),
            size: (shader::JOB_WORDS * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });

        let mut state = Device {
            name: name.clone(),
            pipelines: build_pipelines(&device, &layout, &name, arith, candidates[0])?,
            device,
            queue,
            layout,
            consts,
            job,
            job_words: None,
            workgroup_size: candidates[0],
            slot_capacity: 0,
            slots: Vec::new(),
            max_workgroups: limits.max_compute_workgroups_per_dimension,
        };

        // Calibration: the fastest workgroup size, then a batch of about `batch_time`.
        let calibration_job = GpuJob::new(
            V5Job::new(
                Digest::new([1, 2, 3, 4, 5]).expect("canonical calibration commitment"),
                64,
            )
            .expect("valid calibration job"),
        );
        let mut best: Option<(u32, f64)> = None;
        let needs_rate = settings.batch_size.is_none() || candidates.len() > 1;
        if needs_rate {
            for &size in &candidates {
                if size != state.workgroup_size {
                    state.pipelines =
                        build_pipelines(&state.device, &state.layout, &name, arith, size)?;
                    state.workgroup_size = size;
                }
                let rate = state.calibrate(&calibration_job, slot_capacity, &failed)?;
                tracing::debug!(gpu = %name, workgroup = size, "calibration: {rate:.0} nonces/s");
                if best.is_none_or(|(_, r)| rate > r) {
                    best = Some((size, rate));
                }
            }
        }
        let (size, rate) = best.unwrap_or((candidates[0], 0.0));
        if size != state.workgroup_size {
            state.pipelines = build_pipelines(&state.device, &state.layout, &name, arith, size)?;
            state.workgroup_size = size;
        }
        let wanted = match settings.batch_size {
            Some(n) => u64::from(n),
            None => (rate * settings.batch_time.as_secs_f64()) as u64,
        };
        let max_batch =
            u64::from(slot_capacity).min(u64::from(state.max_workgroups) * u64::from(size));
        let batch = wanted
            .div_ceil(u64::from(size))
            .max(1)
            .saturating_mul(u64::from(size))
            .min(max_batch / u64::from(size) * u64::from(size))
            .max(u64::from(size));
        let batch = u32::try_from(batch).unwrap_or(MAX_BATCH);
        state.make_slots(batch);

        let info = GpuEngineInfo {
            adapter: summary,
            arith,
            workgroup_size: size,
            batch_size: batch,
            calibration_rate: rate,
        };
        Ok(GpuEngine {
            info,
            device: Mutex::new(state),
            failed,
            mismatches: AtomicU64::new(0),
            cpu: V5Engine::new(),
            warned_pow_len: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Device> {
        // Every critical section leaves the device state consistent (buffers are unmapped on
        // every path), so a poisoned lock is still usable.
        self.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, err: &GpuError) {
        tracing::error!(gpu = %self.info.adapter.name, "{err}");
        let mut slot = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| err.to_string());
    }

    fn gpu_job<'a>(&self, job: &'a PreparedJob) -> Result<Cow<'a, GpuJob>, PowError> {
        if let Some(g) = job.payload::<GpuJob>() {
            return Ok(Cow::Borrowed(g));
        }
        let v5 = match job.payload::<V5Job>() {
            Some(v5) => v5.clone(),
            None => V5Job::from_params(job.params())?,
        };
        Ok(Cow::Owned(GpuJob::new(v5)))
    }

    /// The digests of `nonces` computed on the device (canonical limbs, in order): the whole
    /// pipeline without the target test, for checking a device against the CPU.
    ///
    /// # Errors
    /// [`GpuError::DeviceFailed`] if the device fails or returns a non-canonical limb;
    /// [`GpuError::InvalidSetting`] for a job the engine cannot run on the device (version
    /// other than 5, `pow_len` above 64).
    pub fn digest_batch(
        &self,
        job: &PreparedJob,
        nonces: &[Nonce],
    ) -> Result<Vec<Digest>, GpuError> {
        let gjob = self
            .gpu_job(job)
            .map_err(|e| GpuError::InvalidSetting(e.to_string()))?;
        if gjob.v5.pow_len() > MAX_POW_LEN {
            return Err(GpuError::InvalidSetting(format!(
                "pow_len {} is above the device limit {MAX_POW_LEN}",
                gjob.v5.pow_len()
            )));
        }
        let mut device = self.lock();
        device.upload_job(&gjob.words);
        let chunk = (device.max_workgroups as usize * device.workgroup_size as usize).min(1 << 16);
        let mut out = Vec::with_capacity(nonces.len());
        for part in nonces.chunks(chunk) {
            let mut input = Vec::with_capacity(1 + 10 * part.len());
            input.push(part.len() as u32);
            for nonce in part {
                for &limb in nonce.limbs() {
                    input.extend_from_slice(&split(limb));
                }
            }
            let words = device
                .run_once(false, &input, 10 * part.len(), part.len() as u32)
                .and_then(|w| device.check_healthy(&self.failed).map(|()| w))?;
            for d in words.chunks_exact(10) {
                let limbs = [
                    join(d[0], d[1]),
                    join(d[2], d[3]),
                    join(d[4], d[5]),
                    join(d[6], d[7]),
                    join(d[8], d[9]),
                ];
                out.push(Digest::new(limbs).map_err(|e| GpuError::DeviceFailed {
                    device: device.name.clone(),
                    reason: format!("a digest limb was not canonical: {e}"),
                })?);
            }
        }
        Ok(out)
    }

    /// The raw (Montgomery-form) Tip5 permutation of each state, on the device.
    #[cfg(test)]
    pub(crate) fn permute_raw(&self, states: &[[u64; 16]]) -> Result<Vec<[u64; 16]>, GpuError> {
        let mut device = self.lock();
        let mut input = vec![states.len() as u32];
        for state in states {
            for &w in state {
                input.extend_from_slice(&split(w));
            }
        }
        let words = device.run_once(true, &input, 32 * states.len(), states.len() as u32)?;
        Ok(words
            .chunks_exact(32)
            .map(|s| std::array::from_fn(|k| join(s[2 * k], s[2 * k + 1])))
            .collect())
    }

    /// Runs the search for about `duration` on a fixed job with a target nothing meets, and
    /// returns the nonces tried and the time taken: the figure `miner --bench` reports.
    pub fn bench(&self, duration: Duration) -> (u64, Duration) {
        let job = match self.prepare(
            &JobParams::v5(Digest::new([1, 2, 3, 4, 5]).expect("canonical"), 64).expect("valid"),
        ) {
            Ok(job) => job,
            Err(_) => return (0, Duration::ZERO),
        };
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        let mut tried = 0u64;
        let step = u64::from(self.info.batch_size) * 8;
        while start.elapsed() < duration && self.failure().is_none() {
            let range = NonceRange {
                prefix: 1,
                lane: 0,
                start: u128::from(tried),
                count: step,
            };
            tried += self.search(
                &job,
                range,
                &Target::from_u320(nockpool_core::U320::ZERO),
                &stop,
                &mut |_, _| {},
            );
        }
        (tried, start.elapsed())
    }
}

impl std::fmt::Debug for GpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEngine")
            .field("info", &self.info)
            .field("mismatches", &self.mismatches())
            .finish_non_exhaustive()
    }
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn build_pipelines(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    name: &str,
    arith: Arith,
    workgroup_size: u32,
) -> Result<Pipelines, GpuError> {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("nockpool-v5"),
        source: wgpu::ShaderSource::Wgsl(shader::source(arith, workgroup_size).into()),
    });
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("nockpool-v5"),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    let search = build_entry(device, &module, &layout, name, "search")?;
    Ok(Pipelines {
        module,
        layout,
        search,
        digests: None,
        permutations: None,
    })
}

fn build_entry(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    layout: &wgpu::PipelineLayout,
    name: &str,
    entry: &str,
) -> Result<wgpu::ComputePipeline, GpuError> {
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: Some(layout),
        module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &[],
            // The only workgroup variable (the lookup table) is written before it is read.
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    let errors = [
        pollster::block_on(internal.pop()),
        pollster::block_on(validation.pop()),
    ];
    match errors.into_iter().flatten().next() {
        Some(err) => Err(GpuError::Shader {
            device: name.to_string(),
            reason: err.to_string(),
        }),
        None => Ok(pipeline),
    }
}

impl Device {
    fn make_slots(&mut self, capacity: u32) {
        self.slot_capacity = capacity;
        self.slots = (0..SLOTS)
            .map(|_| {
                let disp = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("disp"),
                    size: (shader::DISP_WORDS * 4) as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let out = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("out"),
                    size: 4 * (1 + u64::from(capacity)),
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("staging"),
                    size: 4 * (1 + READBACK_INDICES.min(u64::from(capacity))),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let bind = self.bind(&disp, &out);
                Slot {
                    disp,
                    out,
                    staging,
                    bind,
                }
            })
            .collect();
    }

    fn bind(&self, disp: &wgpu::Buffer, out: &wgpu::Buffer) -> wgpu::BindGroup {
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("nockpool-v5"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: self.consts.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: self.job.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: disp.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: out.as_entire_binding(),
                },
            ],
        })
    }

    /// Uploads the job's constants unless they are already on the device.
    fn upload_job(&mut self, words: &[u32; shader::JOB_WORDS]) {
        if self.job_words.as_ref() != Some(words) {
            self.queue
                .write_buffer(&self.job, 0, &words_to_bytes(words));
            self.job_words = Some(*words);
        }
    }

    fn check_healthy(&self, failed: &Mutex<Option<String>>) -> Result<(), GpuError> {
        match failed.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(reason) => Err(GpuError::DeviceFailed {
                device: self.name.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn groups(&self, count: u32) -> u32 {
        count.div_ceil(self.workgroup_size)
    }

    /// Submits a search dispatch of `count` nonces starting `offset` nonces into `range`.
    fn submit(
        &mut self,
        slot: usize,
        range: &NonceRange,
        offset: u64,
        count: u32,
        target: &Target,
    ) -> InFlight {
        let start = range.start + u128::from(offset);
        let p = u128::from(P);
        let counter = [
            (start % p) as u64,
            ((start / p) % p) as u64,
            (start / p / p) as u64,
        ];
        let mut disp = [0u32; shader::DISP_WORDS];
        for (k, limb) in counter.iter().enumerate() {
            disp[shader::DISP_COUNTER + 2 * k..][..2].copy_from_slice(&split(*limb));
        }
        disp[shader::DISP_LANE..][..2].copy_from_slice(&split(montify(range.lane)));
        disp[shader::DISP_PREFIX..][..2].copy_from_slice(&split(montify(range.prefix)));
        for (k, digit) in target.base_p_digits().iter().enumerate() {
            disp[shader::DISP_TARGET + 2 * k..][..2].copy_from_slice(&split(*digit));
        }
        disp[shader::DISP_COUNT] = count;

        let s = &self.slots[slot];
        self.queue.write_buffer(&s.disp, 0, &words_to_bytes(&disp));
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.clear_buffer(&s.out, 0, Some(4));
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&self.pipelines.search);
            pass.set_bind_group(0, &s.bind, &[]);
            pass.dispatch_workgroups(self.groups(count), 1, 1);
        }
        let readback = 4 * (1 + READBACK_INDICES.min(u64::from(self.slot_capacity)));
        encoder.copy_buffer_to_buffer(&s.out, 0, &s.staging, 0, readback);
        let submission = self.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::channel();
        s.staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        InFlight {
            slot,
            submission,
            mapped: rx,
            offset,
            count,
        }
    }

    /// Waits for a mapping requested after `submission`.
    fn wait_mapped(
        &self,
        submission: wgpu::SubmissionIndex,
        mapped: &mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    ) -> Result<(), GpuError> {
        let failure = |reason: String| GpuError::DeviceFailed {
            device: self.name.clone(),
            reason,
        };
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(DISPATCH_TIMEOUT),
            })
            .map_err(|e| failure(format!("waiting for a dispatch: {e}")))?;
        // The wait runs the mapping callback; poll once more in case it was signalled late.
        let mut result = mapped.try_recv();
        if matches!(result, Err(mpsc::TryRecvError::Empty)) {
            self.device
                .poll(wgpu::PollType::Wait {
                    submission_index: None,
                    timeout: Some(DISPATCH_TIMEOUT),
                })
                .map_err(|e| failure(format!("waiting for a read-back: {e}")))?;
            result = mapped.try_recv();
        }
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failure(format!("reading results back: {e}"))),
            Err(_) => Err(failure("the read-back never completed".into())),
        }
    }

    /// The words of a buffer mapped for reading, copied out, and the buffer unmapped so it can
    /// be mapped again.
    fn mapped_words(&self, staging: &wgpu::Buffer) -> Result<Vec<u32>, GpuError> {
        let words = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| GpuError::DeviceFailed {
                    device: self.name.clone(),
                    reason: format!("mapping results: {e}"),
                })?;
            bytes_to_words(&view)
        };
        staging.unmap();
        Ok(words)
    }

    /// The indices (into the dispatch) that met the target, sorted.
    fn collect(&self, flight: InFlight) -> Result<Vec<u32>, GpuError> {
        let s = &self.slots[flight.slot];
        self.wait_mapped(flight.submission, &flight.mapped)?;
        let words = self.mapped_words(&s.staging)?;
        let found = words[0];
        if found > flight.count {
            return Err(GpuError::DeviceFailed {
                device: self.name.clone(),
                reason: format!("reported {found} results for {} nonces", flight.count),
            });
        }
        let mut indices: Vec<u32> = words[1..].iter().copied().take(found as usize).collect();
        if u64::from(found) > READBACK_INDICES {
            // More results than the small read-back holds (very easy targets): copy the rest.
            let rest = found as usize - indices.len();
            let extra = self.read_buffer(&s.out, 4 * (1 + READBACK_INDICES), rest)?;
            indices.extend(extra);
        }
        if let Some(bad) = indices.iter().find(|&&i| i >= flight.count) {
            return Err(GpuError::DeviceFailed {
                device: self.name.clone(),
                reason: format!(
                    "reported nonce index {bad} of a dispatch of {}",
                    flight.count
                ),
            });
        }
        indices.sort_unstable();
        Ok(indices)
    }

    /// Copies `words` u32s from `buffer` at byte `offset` back to the host.
    fn read_buffer(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        words: usize,
    ) -> Result<Vec<u32>, GpuError> {
        let size = (4 * words as u64).max(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
        let submission = self.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait_mapped(submission, &rx)?;
        let out = self.mapped_words(&staging)?;
        Ok(out.into_iter().take(words).collect())
    }

    /// One synchronous dispatch of the `digests` (or `permutations`) entry point over `count`
    /// items; returns `out_words` result words.
    fn run_once(
        &mut self,
        permutations: bool,
        input: &[u32],
        out_words: usize,
        count: u32,
    ) -> Result<Vec<u32>, GpuError> {
        let (entry, slot) = if permutations {
            ("permutations", &mut self.pipelines.permutations)
        } else {
            ("digests", &mut self.pipelines.digests)
        };
        if slot.is_none() {
            *slot = Some(build_entry(
                &self.device,
                &self.pipelines.module,
                &self.pipelines.layout,
                &self.name,
                entry,
            )?);
        }
        let pipeline = slot.clone().expect("built above");
        let pipeline = &pipeline;
        let disp = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("input"),
            size: (4 * input.len()) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&disp, 0, &words_to_bytes(input));
        let out = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("output"),
            size: (4 * out_words.max(1)) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let bind = self.bind(&disp, &out);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(self.groups(count).max(1), 1, 1);
        }
        self.queue.submit([encoder.finish()]);
        self.read_buffer(&out, 0, out_words)
    }

    /// Nonces per second of the search on this device, timed on dispatches doubled in size
    /// until one takes 40 ms (or the buffers' limit).
    fn calibrate(
        &mut self,
        job: &GpuJob,
        capacity: u32,
        failed: &Mutex<Option<String>>,
    ) -> Result<f64, GpuError> {
        self.upload_job(&job.words);
        let max = u64::from(capacity)
            .min(u64::from(self.max_workgroups) * u64::from(self.workgroup_size));
        self.make_slots(u32::try_from(max).unwrap_or(MAX_BATCH));
        let nothing = Target::from_u320(nockpool_core::U320::ZERO);
        let range = NonceRange {
            prefix: 1,
            lane: 0,
            start: 0,
            count: max,
        };
        // The first dispatch pays for the driver's shader compilation: not timed.
        let warm = self.submit(0, &range, 0, self.workgroup_size, &nothing);
        self.collect(warm)?;
        let mut count = u64::from(self.workgroup_size);
        loop {
            let begin = Instant::now();
            let flight = self.submit(0, &range, 0, count as u32, &nothing);
            self.collect(flight)?;
            self.check_healthy(failed)?;
            let took = begin.elapsed();
            if took >= Duration::from_millis(40) || count * 2 > max {
                return Ok(count as f64 / took.as_secs_f64().max(1e-9));
            }
            count *= 2;
        }
    }
}

impl PowEngine for GpuEngine {
    /// Eight dispatches: the pipeline stays full between calls' ramp-up and drain.
    fn search_chunk(&self) -> u64 {
        u64::from(self.info.batch_size) * 8
    }

    fn prepare(&self, job: &JobParams) -> Result<PreparedJob, PowError> {
        let v5 = V5Job::from_params(job)?;
        Ok(PreparedJob::new(*job, GpuJob::new(v5)))
    }

    fn digest(&self, job: &PreparedJob, nonce: &Nonce) -> Digest {
        match self.gpu_job(job) {
            Ok(g) => g.v5.digest(nonce),
            Err(err) => panic!("GpuEngine given a job it cannot grind: {err}"),
        }
    }

    fn search(
        &self,
        job: &PreparedJob,
        range: NonceRange,
        target: &Target,
        stop: &AtomicBool,
        found: &mut dyn FnMut(Nonce, Digest),
    ) -> u64 {
        if self.failure().is_some() {
            return 0;
        }
        let gjob = match self.gpu_job(job) {
            Ok(g) => g,
            Err(err) => panic!("GpuEngine given a job it cannot grind: {err}"),
        };
        if gjob.v5.pow_len() > MAX_POW_LEN {
            if !self.warned_pow_len.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    gpu = %self.info.adapter.name,
                    "pow_len {} is above the GPU limit {MAX_POW_LEN}: this engine grinds such \
                     jobs on the CPU (one thread)",
                    gjob.v5.pow_len()
                );
            }
            return self.cpu.search(job, range, target, stop, found);
        }
        if range.nonce(0).is_none() {
            // Non-canonical prefix or lane, or an empty range.
            return 0;
        }
        // Nonces past the u128 counter do not exist (NonceRange::nonce refuses them).
        let available = u128::MAX - range.start;
        let total = if available < u128::from(range.count) {
            (available + 1) as u64
        } else {
            range.count
        };

        let mut device = self.lock();
        device.upload_job(&gjob.words);
        let batch = u64::from(device.slot_capacity);
        let mut flights: VecDeque<InFlight> = VecDeque::with_capacity(SLOTS);
        let mut next = 0u64;
        let mut submitted = 0usize;
        let mut tried = 0u64;
        let mut error = None;
        loop {
            while error.is_none()
                && flights.len() < SLOTS
                && next < total
                && !stop.load(Ordering::Relaxed)
            {
                let count = batch.min(total - next) as u32;
                flights.push_back(device.submit(submitted % SLOTS, &range, next, count, target));
                submitted += 1;
                next += u64::from(count);
            }
            let Some(flight) = flights.pop_front() else {
                break;
            };
            let (offset, count) = (flight.offset, flight.count);
            let result = if error.is_some() {
                // Drain what is in flight so the buffers end up unmapped; results are void.
                let _ = device.collect(flight);
                continue;
            } else {
                device
                    .collect(flight)
                    .and_then(|indices| device.check_healthy(&self.failed).map(|()| indices))
            };
            match result {
                Ok(indices) => {
                    for index in indices {
                        let Some(nonce) = range.nonce(offset + u64::from(index)) else {
                            continue;
                        };
                        let digest = gjob.v5.digest(&nonce);
                        if digest.meets(target) {
                            found(nonce, digest);
                        } else {
                            self.mismatches.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(
                                gpu = %self.info.adapter.name,
                                "the GPU reported nonce {:?} as meeting the target but the CPU \
                                 check disagrees (digest {:?}); not submitted",
                                nonce.limbs(),
                                digest.limbs()
                            );
                        }
                    }
                    tried += u64::from(count);
                }
                Err(err) => error = Some(err),
            }
        }
        drop(device);
        if let Some(err) = error {
            self.fail(&err);
        }
        tried
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nockpool_pow::field::mont_reduce;

    /// The spec's permutation vectors (raw states in and out) on every adapter and path.
    #[test]
    fn permutation_vectors_on_the_device() {
        let dir = std::env::var_os("NOCKPOOL_SPEC_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec")
            });
        let Ok(text) = std::fs::read_to_string(dir.join("tip5-vectors.json")) else {
            eprintln!(
                "NOTICE: skipping: spec vectors not readable under {}",
                dir.display()
            );
            return;
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let words = |x: &serde_json::Value| -> [u64; 16] {
            let w: Vec<u64> = x
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect();
            w.try_into().unwrap()
        };
        let cases = v["permutation"]["cases"].as_array().unwrap();
        let inputs: Vec<[u64; 16]> = cases.iter().map(|c| words(&c["raw_in"])).collect();
        let expected: Vec<[u64; 16]> = cases.iter().map(|c| words(&c["raw_out"])).collect();
        assert!(inputs.len() >= 5);

        let adapters = adapter::adapters();
        if adapters.is_empty() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but no GPU adapter was found"
            );
            eprintln!("NOTICE: skipping: {}", GpuError::NoAdapter);
            return;
        }
        for arith in [Arith::U32, Arith::U64] {
            let selection = GpuSelection::Indices(
                adapters
                    .iter()
                    .filter(|a| arith == Arith::U32 || a.int64)
                    .map(|a| a.index)
                    .collect(),
            );
            if selection == GpuSelection::Indices(Vec::new()) {
                continue;
            }
            let engines = GpuEngine::builder()
                .arith(arith)
                .workgroup_size(64)
                .batch_size(64)
                .open(&selection)
                .unwrap();
            for engine in &engines {
                let got = engine.permute_raw(&inputs).unwrap();
                assert_eq!(got, expected, "{}", engine.info());
                // And the canonical view: demont(P(montify(x))).
                let canonical: Vec<u64> =
                    got[0].iter().map(|&w| mont_reduce(u128::from(w))).collect();
                let out: Vec<u64> = cases[0]["out"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_u64().unwrap())
                    .collect();
                assert_eq!(canonical, out);
            }
        }
    }
}
