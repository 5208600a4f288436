//! Engine images on a host: what a tag names there (its digest), and a pull with progress
//! when the image is missing and a registry answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bench_node::Failure;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::{DockerHost, infra, not_found, permanent};

/// An image as a host holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// The tag the sweep names (`vllm/vllm-openai:v0.9.2`).
    pub image: String,
    /// The image id on the host (`sha256:…` of its configuration).
    pub id: String,
    /// `repo@sha256:…` when the image came from a registry; absent for a locally built one.
    pub repo_digest: Option<String>,
}

impl ImageRef {
    /// What keys use: the registry digest when there is one (the same before and after a
    /// pull), else the local image id.
    pub fn digest(&self) -> &str {
        self.repo_digest.as_deref().unwrap_or(&self.id)
    }
}

/// The repository of an image reference, without its tag (`host:5000/a/b:1` → `host:5000/a/b`).
fn repo_of(image: &str) -> &str {
    image
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(image, |(r, _)| r)
}

impl DockerHost {
    /// The image under `image` on this host, `None` when the host does not have it.
    pub fn image(&self, image: &str) -> Result<Option<ImageRef>, Failure> {
        match self.block(self.docker.inspect_image(image)) {
            Ok(i) => {
                let repo = repo_of(image);
                let repo_digest = i.repo_digests.unwrap_or_default().into_iter().find(|d| {
                    d.split_once('@')
                        .is_some_and(|(r, _)| r == repo || r.ends_with(&format!("/{repo}")))
                });
                Ok(Some(ImageRef {
                    image: image.to_string(),
                    id: i.id.unwrap_or_default(),
                    repo_digest,
                }))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(infra(format!(
                "cannot inspect the image {image} on {}: {e}",
                self.endpoint.describe()
            ))),
        }
    }

    /// The digest a registry gives for `image` (`repo@sha256:…`), without pulling it.
    pub fn registry_digest(&self, image: &str) -> Result<String, Failure> {
        let d = self
            .block(self.docker.inspect_registry_image(image, None))
            .map_err(|e| infra(format!("no registry answers for {image}: {e}")))?;
        let digest = d
            .descriptor
            .digest
            .ok_or_else(|| infra(format!("the registry gave no digest for {image}")))?;
        Ok(format!("{}@{digest}", repo_of(image)))
    }

    /// Makes sure the host has `image`: a locally built or loaded image counts; a missing
    /// one is pulled, with a progress line every few seconds (`progress`).
    pub fn ensure_image(
        &self,
        image: &str,
        progress: &mut dyn FnMut(&str),
    ) -> Result<ImageRef, Failure> {
        if let Some(i) = self.image(image)? {
            return Ok(i);
        }
        progress(&format!(
            "{image} is not on {}: pulling it",
            self.endpoint.describe()
        ));
        let opts = CreateImageOptionsBuilder::new().from_image(image).build();
        let pulled: Result<(), String> = self.block(async {
            let mut stream = self.docker.create_image(Some(opts), None, None);
            let mut layers: HashMap<String, (i64, i64)> = HashMap::new();
            let mut last = Instant::now();
            while let Some(item) = stream.next().await {
                let info = item.map_err(|e| e.to_string())?;
                if let Some(err) = info.error_detail.and_then(|d| d.message).or(info.error) {
                    return Err(err);
                }
                if let (Some(id), Some(p)) = (info.id, info.progress_detail)
                    && let (Some(cur), Some(total)) = (p.current, p.total)
                {
                    layers.insert(id, (cur, total));
                }
                if last.elapsed() > Duration::from_secs(2) {
                    last = Instant::now();
                    let (cur, total) = layers
                        .values()
                        .fold((0, 0), |(a, b), (c, t)| (a + c, b + t));
                    progress(&format!(
                        "pulling {image}: {:.0} of {:.0} MB in {} layers",
                        cur as f64 / 1e6,
                        total as f64 / 1e6,
                        layers.len()
                    ));
                }
            }
            Ok(())
        });
        if let Err(e) = pulled {
            return Err(permanent(format!(
                "the image {image} is not on {} and could not be pulled: {e}. Build or load it \
                 there (`docker build`, `docker load`; for the sim engine, `bench sim-image`)",
                self.endpoint.describe()
            )));
        }
        let i = self.image(image)?.ok_or_else(|| {
            infra(format!(
                "{image} was pulled but {} does not show it",
                self.endpoint.describe()
            ))
        })?;
        progress(&format!("pulled {image} ({})", i.digest()));
        Ok(i)
    }
}

/// A file to put in an image built from scratch: where it goes, where it is here.
pub struct ImageFile {
    pub path_in_image: String,
    pub source: std::path::PathBuf,
}

impl DockerHost {
    /// Builds an image `FROM scratch` holding `files`, with `entrypoint`, tagged `tag`
    /// (e.g. the sim engine and the shared libraries it needs): nothing is pulled.
    pub fn build_scratch_image(
        &self,
        tag: &str,
        files: &[ImageFile],
        entrypoint: &[String],
        labels: &[(&str, &str)],
        progress: &mut dyn FnMut(&str),
    ) -> Result<ImageRef, Failure> {
        use bollard::query_parameters::BuildImageOptionsBuilder;
        let mut dockerfile = String::from("FROM scratch\nCOPY rootfs/ /\n");
        dockerfile.push_str(&format!(
            "ENTRYPOINT {}\n",
            serde_json::to_string(entrypoint).map_err(|e| permanent(e.to_string()))?
        ));
        for (k, v) in labels {
            dockerfile.push_str(&format!("LABEL {k}={v:?}\n"));
        }
        let mut tar = tar::Builder::new(Vec::new());
        let add = |tar: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_cksum();
            tar.append_data(&mut h, path, data)
        };
        let io = |e: std::io::Error| infra(format!("cannot pack the image's files: {e}"));
        add(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644).map_err(io)?;
        for f in files {
            let data = std::fs::read(&f.source)
                .map_err(|e| permanent(format!("cannot read {}: {e}", f.source.display())))?;
            let path = format!("rootfs/{}", f.path_in_image.trim_start_matches('/'));
            add(&mut tar, &path, &data, 0o755).map_err(io)?;
        }
        let body = tar.into_inner().map_err(io)?;
        let opts = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .build();
        let result: Result<(), String> = self.block(async {
            let mut s = self.docker.build_image(
                opts,
                None,
                Some(bollard::body_full(bytes::Bytes::from(body))),
            );
            while let Some(item) = s.next().await {
                let info = item.map_err(|e| e.to_string())?;
                if let Some(e) = info.error_detail.and_then(|d| d.message).or(info.error) {
                    return Err(e);
                }
                if let Some(line) = info.stream {
                    let line = line.trim();
                    if !line.is_empty() {
                        progress(line);
                    }
                }
            }
            Ok(())
        });
        result.map_err(|e| {
            infra(format!(
                "building {tag} on {} failed: {e}",
                self.endpoint.describe()
            ))
        })?;
        self.image(tag)?
            .ok_or_else(|| infra(format!("{tag} was built but the daemon does not show it")))
    }
}
