//! Artifact Store bindings.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use symphony_pit::artifact::{Content, ListFilter, Producer};
use symphony_pit::value::VALUE_CONTENT_TYPE;
use symphony_pit::{ArtifactId, ArtifactMeta, BlobData, Pit, PutOptions, Value};

use crate::convert::{to_py, to_value};
use crate::errors::{run, validation, OrRaise};
use crate::html::{frame, render};

/// A Python `bytes` object held as a blob: the store keeps a reference instead of a copy, and
/// `get` hands the very same object back.
struct PyBytesBlob {
    object: Py<PyBytes>,
    data: *const u8,
    len: usize,
}

// SAFETY: a `bytes` object is immutable and its buffer never moves while the object is alive;
// `object` keeps it alive for as long as the blob exists, so reading `data` from any thread is
// sound. Dropping `object` without the GIL is deferred by PyO3 to the next time it is held.
unsafe impl Send for PyBytesBlob {}
unsafe impl Sync for PyBytesBlob {}

impl BlobData for PyBytesBlob {
    fn bytes(&self) -> &[u8] {
        // SAFETY: see the `Send`/`Sync` impls above.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl PyBytesBlob {
    fn new(bytes: &Bound<'_, PyBytes>) -> Self {
        let view = bytes.as_bytes();
        PyBytesBlob {
            object: bytes.clone().unbind(),
            data: view.as_ptr(),
            len: view.len(),
        }
    }
}

fn parse_id(py: Python<'_>, id: &str) -> PyResult<ArtifactId> {
    ArtifactId::parse(id).or_raise(py)
}

/// The blob as Python `bytes`: the original object when the store holds one, else a copy.
fn bytes_of<'py>(py: Python<'py>, blob: &symphony_pit::Blob) -> Bound<'py, PyBytes> {
    match blob.as_any().downcast_ref::<PyBytesBlob>() {
        Some(original) => original.object.bind(py).clone(),
        None => PyBytes::new(py, blob.bytes()),
    }
}

/// Content-addressed artifacts with metadata and lineage. Reach it as `pit.artifacts`.
#[pyclass(frozen, name = "ArtifactStore", module = "symphony_pit._native")]
pub struct PyArtifactStore {
    pub pit: Arc<Pit>,
}

#[pymethods]
impl PyArtifactStore {
    /// Store `data` and return its id (the BLAKE3 hash of the stored bytes, 64 hex digits).
    ///
    /// `bytes` are stored as they are, without a copy (`get` returns the same object); any other supported
    /// value (None, bool, int, float, str, list, tuple, dict, datetime, numpy array) is encoded
    /// losslessly and `get` gives it back. Storing the same content twice costs nothing.
    #[pyo3(signature = (data, *, content_type=None, created_by=None, tags=None, custom=None, producer=None, inputs=None))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        content_type: Option<String>,
        created_by: Option<String>,
        tags: Option<Vec<String>>,
        custom: Option<&Bound<'_, PyAny>>,
        producer: Option<(String, String)>,
        inputs: Option<Vec<String>>,
    ) -> PyResult<String> {
        let inputs = inputs
            .unwrap_or_default()
            .iter()
            .map(|i| parse_id(py, i))
            .collect::<PyResult<Vec<_>>>()?;
        let mut opts = PutOptions {
            content_type,
            created_by,
            tags: tags.unwrap_or_default(),
            custom: custom.map(to_value).transpose()?.unwrap_or(Value::None),
            producer: producer.map(|(run, node)| Producer { run, node }),
            inputs,
        };
        let pit = &self.pit;
        let id = if let Ok(bytes) = data.cast::<PyBytes>() {
            let blob: symphony_pit::Blob = Arc::new(PyBytesBlob::new(bytes));
            run(py, move || pit.artifacts.put_blob(blob, opts))?
        } else {
            if opts.content_type.is_some() {
                return Err(validation(
                    py,
                    "content_type applies to bytes only; other values are stored encoded",
                ));
            }
            let encoded = match crate::convert::encode_array(data)? {
                Some(encoded) => encoded,
                None => to_value(data)?.encode(),
            };
            let encoded: symphony_pit::Blob = Arc::new(encoded);
            opts.content_type = Some(VALUE_CONTENT_TYPE.to_owned());
            run(py, move || pit.artifacts.put_blob(encoded, opts))?
        };
        Ok(id.to_hex())
    }

    /// The artifact's content: bytes as stored, or the value that was stored.
    fn get(&self, py: Python<'_>, id: &str) -> PyResult<Py<PyAny>> {
        let id = parse_id(py, id)?;
        let pit = &self.pit;
        let (data, content) = run(py, move || pit.artifacts.get_typed(&id))?;
        if content == Content::Value {
            let value = run(py, move || Value::decode(data.bytes()))?;
            to_py(py, &value)
        } else {
            Ok(bytes_of(py, &data).into_any().unbind())
        }
    }

    /// The stored bytes, whatever the content type.
    fn get_bytes<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyBytes>> {
        let id = parse_id(py, id)?;
        let pit = &self.pit;
        let data = run(py, move || pit.artifacts.get(&id))?;
        Ok(bytes_of(py, &data))
    }

    fn exists(&self, py: Python<'_>, id: &str) -> PyResult<bool> {
        let id = parse_id(py, id)?;
        Ok(self.pit.artifacts.exists(&id))
    }

    /// Metadata and lineage of an artifact.
    fn metadata(&self, py: Python<'_>, id: &str) -> PyResult<PyArtifactMeta> {
        let id = parse_id(py, id)?;
        let pit = &self.pit;
        let meta = run(py, move || pit.artifacts.metadata(&id))?;
        Ok(PyArtifactMeta { inner: meta })
    }

    /// Artifacts matching every given filter, oldest first.
    #[pyo3(signature = (*, tag=None, content_type=None, created_by=None, run=None, limit=None))]
    fn list(
        &self,
        py: Python<'_>,
        tag: Option<String>,
        content_type: Option<String>,
        created_by: Option<String>,
        run: Option<String>,
        limit: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyArtifactMeta>> {
        let limit = limit
            .map(|n| crate::errors::count_arg(n, "limit", 0, u64::MAX).map(|n| n as usize))
            .transpose()?;
        let filter = ListFilter {
            tag,
            content_type,
            created_by,
            run,
            limit,
        };
        let pit = &self.pit;
        let found = crate::errors::run(py, move || Ok(pit.artifacts.list(&filter)))?;
        Ok(found
            .into_iter()
            .map(|inner| PyArtifactMeta { inner })
            .collect())
    }

    /// Delete an artifact; a pinned one only with `force=True`.
    #[pyo3(signature = (id, *, force=false))]
    fn delete(&self, py: Python<'_>, id: &str, force: bool) -> PyResult<()> {
        let id = parse_id(py, id)?;
        let pit = &self.pit;
        run(py, move || pit.artifacts.delete(&id, force))
    }

    /// Move artifacts to the archive tier (gzip-compressed, out of memory and the blob
    /// directory, still readable by `get`). Returns `{id: (bytes, compressed bytes)}` for those
    /// archived now; already archived ones are skipped.
    fn archive(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
    ) -> PyResult<std::collections::HashMap<String, (u64, u64)>> {
        let ids = ids
            .iter()
            .map(|id| parse_id(py, id))
            .collect::<PyResult<Vec<_>>>()?;
        let pit = &self.pit;
        let done = run(py, move || pit.artifacts.archive(&ids))?;
        Ok(done
            .into_iter()
            .map(|(id, size, stored)| (id.to_hex(), (size, stored)))
            .collect())
    }

    /// Pin an artifact (pinned artifacts are never cleaned up), or unpin with `pinned=False`.
    #[pyo3(signature = (id, pinned=true))]
    fn pin(&self, py: Python<'_>, id: &str, pinned: bool) -> PyResult<()> {
        let id = parse_id(py, id)?;
        let pit = &self.pit;
        run(py, move || pit.artifacts.pin(&id, pinned))
    }

    /// Every ancestor of an artifact through its lineage, nearest first.
    fn ancestors(&self, py: Python<'_>, id: &str) -> PyResult<Vec<String>> {
        let id = parse_id(py, id)?;
        let pit = &self.pit;
        let found = run(py, move || pit.artifacts.ancestors(&id))?;
        Ok(found.iter().map(ArtifactId::to_hex).collect())
    }

    /// Rebuild metadata rows from content-addressed blobs: blobs on disk that no row names (a
    /// lost or damaged database, a crash between a blob and its row) and rows quarantined when
    /// the store was opened. Each blob is verified against its id first; one holding an encoded
    /// value comes back as that value, any other as bytes; tags, lineage and producer are not
    /// recoverable (they lived in the lost row). Returns
    /// `{"recovered": [ids], "failed": {id: why}}`.
    ///
    /// >>> pit.artifacts.recover()["recovered"]  # doctest: +SKIP
    fn recover<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let pit = &self.pit;
        let report = run(py, move || pit.artifacts.recover())?;
        let out = PyDict::new(py);
        let recovered: Vec<String> = report.recovered.iter().map(ArtifactId::to_hex).collect();
        out.set_item("recovered", recovered)?;
        let failed = PyDict::new(py);
        for (id, why) in &report.failed {
            failed.set_item(id.to_hex(), why)?;
        }
        out.set_item("failed", failed)?;
        Ok(out)
    }

    /// Rows that failed their integrity checks when the store was opened: `{id: why}`. They are
    /// never served (`get` raises `IntegrityError`); a put of the same content or `recover()`
    /// replaces them.
    fn quarantined(&self) -> std::collections::HashMap<String, String> {
        self.pit.artifacts.quarantined().into_iter().collect()
    }

    /// Ids of blobs on disk that no metadata row names (see `recover`).
    fn orphans(&self) -> Vec<String> {
        self.pit
            .artifacts
            .orphans()
            .iter()
            .map(ArtifactId::to_hex)
            .collect()
    }

    /// Sizes and counters of the store.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.pit.artifacts.stats();
        let dict = PyDict::new(py);
        dict.set_item("artifacts", s.artifacts)?;
        dict.set_item("total_bytes", s.total_bytes)?;
        dict.set_item("hot_artifacts", s.hot_artifacts)?;
        dict.set_item("hot_bytes", s.hot_bytes)?;
        dict.set_item("puts", s.puts)?;
        dict.set_item("dedup_hits", s.dedup_hits)?;
        dict.set_item("hot_hits", s.hot_hits)?;
        dict.set_item("disk_reads", s.disk_reads)?;
        dict.set_item("pending_writes", s.pending_writes)?;
        dict.set_item("archived_artifacts", s.archived_artifacts)?;
        dict.set_item("archived_bytes", s.archived_bytes)?;
        dict.set_item("archive_stored_bytes", s.archive_stored_bytes)?;
        dict.set_item("archive_reads", s.archive_reads)?;
        Ok(dict)
    }

    /// Artifacts (filtered like `list`) as a pandas DataFrame.
    #[pyo3(signature = (**filters))]
    fn to_pandas<'py>(
        slf: &Bound<'py, Self>,
        filters: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filters = filters.cloned().unwrap_or_else(|| PyDict::new(slf.py()));
        frame(slf.as_any(), "artifacts_frame", vec![filters.into_any()])
    }

    fn __len__(&self) -> usize {
        self.pit.artifacts.len()
    }

    fn __contains__(&self, id: &str) -> bool {
        ArtifactId::parse(id).is_ok_and(|id| self.pit.artifacts.exists(&id))
    }

    fn __repr__(&self) -> String {
        let s = self.pit.artifacts.stats();
        format!(
            "ArtifactStore(artifacts={}, total_bytes={})",
            s.artifacts, s.total_bytes
        )
    }

    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.as_any(), "artifacts_html")
    }
}

/// Metadata and lineage of one artifact.
#[pyclass(frozen, name = "ArtifactMeta", module = "symphony_pit._native")]
pub struct PyArtifactMeta {
    /// A snapshot shared with the store (never copied on lookup).
    inner: Arc<ArtifactMeta>,
}

#[pymethods]
impl PyArtifactMeta {
    #[getter]
    fn id(&self) -> String {
        self.inner.id.to_hex()
    }
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size
    }
    #[getter]
    fn content_type(&self) -> &str {
        &self.inner.content_type
    }
    /// Seconds since the Unix epoch.
    #[getter]
    fn created_at(&self) -> f64 {
        self.inner.created_at
    }
    #[getter]
    fn created_by(&self) -> &str {
        &self.inner.created_by
    }
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.inner.tags.clone()
    }
    #[getter]
    fn custom(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.inner.custom)
    }
    /// (run id, node name) that produced the artifact, or None.
    #[getter]
    fn producer(&self) -> Option<(String, String)> {
        self.inner
            .producer
            .as_ref()
            .map(|p| (p.run.clone(), p.node.clone()))
    }
    /// Ids of the artifacts this one was computed from.
    #[getter]
    fn inputs(&self) -> Vec<String> {
        self.inner.inputs.iter().map(ArtifactId::to_hex).collect()
    }
    #[getter]
    fn pinned(&self) -> bool {
        self.inner.pinned
    }
    #[getter]
    fn access_count(&self) -> u64 {
        self.inner.access_count
    }
    #[getter]
    fn last_access(&self) -> f64 {
        self.inner.last_access
    }
    /// Compressed size when archived, else None.
    #[getter]
    fn archived(&self) -> Option<u64> {
        self.inner.archived
    }
    /// Every field as a dict (handy for `pandas.DataFrame`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", self.id())?;
        d.set_item("size", self.size())?;
        d.set_item("content_type", self.content_type())?;
        d.set_item("created_at", self.created_at())?;
        d.set_item("created_by", self.created_by())?;
        d.set_item("tags", self.tags())?;
        d.set_item("custom", self.custom(py)?)?;
        d.set_item("producer", self.producer())?;
        d.set_item("inputs", self.inputs())?;
        d.set_item("pinned", self.pinned())?;
        d.set_item("access_count", self.access_count())?;
        d.set_item("last_access", self.last_access())?;
        d.set_item("archived", self.archived())?;
        Ok(d)
    }
    fn __repr__(&self) -> String {
        format!(
            "ArtifactMeta(id={}…, size={}, content_type={:?}, tags={:?}{})",
            &self.inner.id.to_hex()[..12],
            self.inner.size,
            self.inner.content_type,
            self.inner.tags,
            if self.inner.pinned { ", pinned" } else { "" }
        )
    }
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.as_any(), "artifact_meta_html")
    }
}
