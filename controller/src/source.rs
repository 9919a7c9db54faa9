//! Where manifests come from: a local directory or `s3://bucket/prefix`.
//!
//! The S3 source lists the prefix (paginated) and downloads only objects whose ETag changed
//! since the last fetch, so an idle pass costs one ListObjectsV2 call per 1000 manifests. A
//! failed fetch is an error for the caller, which keeps its last good set: a fetch failure
//! never looks like "no manifests".

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::aws::AwsClients;
use crate::domain::S3Location;
use crate::manifest::load::{is_manifest_file, manifest_files};
use crate::manifest::ManifestSet;
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLocation {
    Dir(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl SourceLocation {
    pub fn parse(text: &str) -> Result<Self, SourceError> {
        match S3Location::parse(text) {
            Ok(Some(S3Location { bucket, prefix })) => Ok(SourceLocation::S3 { bucket, prefix }),
            Ok(None) => Ok(SourceLocation::Dir(PathBuf::from(text))),
            Err(e) => Err(SourceError::Invalid(e.to_string())),
        }
    }
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceLocation::Dir(p) => write!(f, "{}", p.display()),
            SourceLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Invalid(String),
    #[error("reading {location}: {message}")]
    Fetch { location: String, message: String },
}

/// A manifest source with its download cache.
///
/// # Guarantees
/// - An object whose ETag is unchanged is neither downloaded nor parsed again: its documents
///   are kept parsed and checked per key, and an idle poll only merges them and runs the
///   checks across files.
///
/// # Caveats
/// - The per-file checks ran against the settings of the fetch that parsed the file; a process
///   keeps one set of settings for its life.
#[derive(Debug)]
pub struct Source {
    pub location: SourceLocation,
    /// S3 key -> its ETag and its documents, parsed and checked, of the last successful fetch.
    cache: HashMap<String, (String, Arc<ManifestSet>)>,
    /// S3 key -> its ETag and text, for the warm-start cache ([`Source::export`]).
    texts: HashMap<String, (String, Arc<str>)>,
}

/// GetObject calls in flight at once when several manifests changed.
pub const DOWNLOADS_IN_FLIGHT: usize = 8;

/// One manifest object as the warm-start cache keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CachedObject {
    pub etag: String,
    /// Shared with the source's own copy while the cache is written.
    pub text: Arc<str>,
}

/// What a fetch returned.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub set: ManifestSet,
    /// Number of objects downloaded (0 on an idle pass).
    pub downloaded: usize,
    /// Source files (S3 keys or paths) seen.
    pub files: usize,
}

impl Source {
    pub fn new(location: SourceLocation) -> Self {
        Self {
            location,
            cache: HashMap::new(),
            texts: HashMap::new(),
        }
    }

    /// The objects of the last successful fetch (S3 sources only), for a successor process.
    pub fn export(&self) -> BTreeMap<String, CachedObject> {
        (self.texts.iter())
            .map(|(key, (etag, text))| {
                let object = CachedObject {
                    etag: etag.clone(),
                    text: Arc::clone(text),
                };
                (key.clone(), object)
            })
            .collect()
    }

    /// Takes objects a predecessor fetched: parsed now with these settings, and used by the
    /// next fetch for every key whose ETag S3 still lists (the others are downloaded).
    pub fn import(&mut self, objects: BTreeMap<String, CachedObject>, settings: &Settings) {
        let SourceLocation::S3 { bucket, .. } = &self.location else {
            return;
        };
        for (key, object) in objects {
            let text = object.text;
            let mut parsed = ManifestSet::default();
            parsed.add_text(
                &format!("s3://{bucket}/{key}"),
                Arc::clone(&text),
                Some(settings),
            );
            self.cache
                .insert(key.clone(), (object.etag.clone(), Arc::new(parsed)));
            self.texts.insert(key, (object.etag, text));
        }
    }

    /// Reads every manifest. Errors leave the cache as it was.
    pub async fn fetch(
        &mut self,
        aws: Option<&AwsClients>,
        settings: &Settings,
    ) -> Result<Fetched, SourceError> {
        match self.location.clone() {
            SourceLocation::Dir(dir) => fetch_dir(&dir, settings),
            SourceLocation::S3 { bucket, prefix } => {
                let aws = aws
                    .ok_or_else(|| SourceError::Invalid("an S3 source needs AWS clients".into()))?;
                self.fetch_s3(aws, &bucket, &prefix, settings).await
            }
        }
    }

    async fn fetch_s3(
        &mut self,
        aws: &AwsClients,
        bucket: &str,
        prefix: &str,
        settings: &Settings,
    ) -> Result<Fetched, SourceError> {
        let location = format!("s3://{bucket}/{prefix}");
        let fail = |message: String| SourceError::Fetch {
            location: location.clone(),
            message,
        };
        let mut listed: Vec<(String, String)> = Vec::new();
        let mut pages = aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(aws.error("s3:ListObjectsV2"))
                .map_err(|e| fail(e.to_string()))?;
            check_listing_page(&page).map_err(fail)?;
            for object in page.contents() {
                let key = object.key().unwrap_or_default().to_string();
                if is_manifest_file(Path::new(&key)) {
                    listed.push((key, object.e_tag().unwrap_or_default().to_string()));
                }
            }
        }
        // Download into a fresh map first: a failure half-way leaves the old cache intact.
        let mut next = HashMap::new();
        let mut texts = HashMap::new();
        let mut wanted = Vec::new();
        for (key, etag) in &listed {
            match self.cache.get(key) {
                Some((cached_etag, parsed)) if cached_etag == etag => {
                    next.insert(key.clone(), (etag.clone(), Arc::clone(parsed)));
                    if let Some(text) = self.texts.get(key) {
                        texts.insert(key.clone(), text.clone());
                    }
                }
                _ => wanted.push((key, etag)),
            }
        }
        // Changed objects are downloaded DOWNLOADS_IN_FLIGHT at a time (one after another
        // they were most of a first pass's source time); the first failure fails the fetch.
        use futures::{StreamExt, TryStreamExt};
        let bodies: Vec<(&String, String, Vec<u8>)> = futures::stream::iter(wanted)
            .map(|(key, listed_etag)| {
                let fail = &fail;
                async move {
                    let out = aws
                        .s3
                        .get_object()
                        .bucket(bucket)
                        .key(key)
                        .send()
                        .await
                        .map_err(aws.error("s3:GetObject"))
                        .map_err(|e| fail(e.to_string()))?;
                    let etag = out
                        .e_tag()
                        .map(str::to_string)
                        .unwrap_or_else(|| listed_etag.clone());
                    let body = out
                        .body
                        .collect()
                        .await
                        .map_err(|e| fail(format!("reading s3://{bucket}/{key}: {e}")))?
                        .into_bytes()
                        .to_vec();
                    Ok::<_, SourceError>((key, etag, body))
                }
            })
            .buffer_unordered(DOWNLOADS_IN_FLIGHT)
            .try_collect()
            .await?;
        let downloaded = bodies.len();
        for (key, etag, body) in bodies {
            let mut parsed = ManifestSet::default();
            let name = format!("s3://{bucket}/{key}");
            match std::str::from_utf8(&body) {
                // One copy of the text, shared by the parsed manifests (which place problems
                // found later on their lines) and the warm-start cache.
                Ok(text) => {
                    let text: Arc<str> = Arc::from(text);
                    parsed.add_text(&name, Arc::clone(&text), Some(settings));
                    texts.insert(key.clone(), (etag.clone(), text));
                }
                Err(_) => parsed.add_source(&name, &body, Some(settings)),
            }
            next.insert(key.clone(), (etag, Arc::new(parsed)));
        }
        self.cache = next;
        self.texts = texts;
        let mut set = ManifestSet::default();
        let mut keys: Vec<&String> = self.cache.keys().collect();
        keys.sort();
        for key in keys {
            set.extend_from(&self.cache[key].1);
        }
        set.finish();
        Ok(Fetched {
            set,
            downloaded,
            files: listed.len(),
        })
    }
}

/// A ListObjectsV2 page is whole when it holds as many keys as its KeyCount says, every entry
/// has a key and an ETag, and a truncated page names the next one. The SDK's XML reader returns
/// whatever it parsed from a body cut short; trusting that would turn a broken answer into
/// deleted services.
fn check_listing_page(
    page: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output,
) -> Result<(), String> {
    let received = page.contents().len() + page.common_prefixes().len();
    match page.key_count() {
        Some(n) if usize::try_from(n) == Ok(received) => {}
        Some(n) => {
            return Err(format!(
                "incomplete listing: KeyCount is {n} but {received} key(s) arrived"
            ))
        }
        None => return Err("incomplete listing: the page has no KeyCount".into()),
    }
    if page.is_truncated() == Some(true) && page.next_continuation_token().is_none_or(str::is_empty)
    {
        return Err("incomplete listing: truncated without a continuation token".into());
    }
    if page
        .contents()
        .iter()
        .any(|o| o.key().is_none_or(str::is_empty) || o.e_tag().is_none())
    {
        return Err("incomplete listing: an entry without a key or ETag".into());
    }
    Ok(())
}

fn fetch_dir(dir: &Path, settings: &Settings) -> Result<Fetched, SourceError> {
    let fail = |e: std::io::Error| SourceError::Fetch {
        location: dir.display().to_string(),
        message: e.to_string(),
    };
    let files = manifest_files(&[dir.to_path_buf()]).map_err(fail)?;
    let mut set = ManifestSet::default();
    for file in &files {
        let bytes = std::fs::read(file).map_err(fail)?;
        set.add_source(&file.display().to_string(), &bytes, Some(settings));
    }
    set.finish();
    Ok(Fetched {
        set,
        downloaded: files.len(),
        files: files.len(),
    })
}
