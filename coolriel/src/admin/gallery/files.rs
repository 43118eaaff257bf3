//! The files behind the gallery: `GET /emails/{file}` serves one email (only a name the
//! service writes, only a regular file), `GET /history` the last records of
//! `history.jsonl` as JSON.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::listing::{last_lines, parse_email_file_name};
use crate::admin::{AdminState, email_response, error_response};

/// Records `GET /history` returns by default and at most.
const DEFAULT_HISTORY: usize = 50;
const MAX_HISTORY: usize = 1000;

/// `GET /emails/{file}`: one email file, or 404.
pub(crate) async fn email(state: web::Data<AdminState>, file: web::Path<String>) -> HttpResponse {
    let name = file.into_inner();
    let Some(email) = parse_email_file_name(&name) else {
        return error_response(HttpResponse::NotFound(), "no such email");
    };
    let path = state.output_dir.join(&name);
    let read = web::block(move || read_regular_file(&path)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) if error.kind() == io::ErrorKind::NotFound => {
            return error_response(HttpResponse::NotFound(), "no such email");
        }
        Ok(Err(error)) => {
            tracing::warn!(file = %name, error = %error, "cannot read an email");
            return error_response(HttpResponse::InternalServerError(), "cannot read the email");
        }
        Err(_) => {
            return error_response(HttpResponse::InternalServerError(), "cannot read the email");
        }
    };
    email_response(email.format, bytes)
}

/// The contents of `path` if it is a regular file; a symbolic link (or anything else)
/// reads as not found.
pub(super) fn read_regular_file(path: &Path) -> io::Result<Vec<u8>> {
    let not_found = || io::Error::new(io::ErrorKind::NotFound, "not a regular file");
    if !std::fs::symlink_metadata(path)?.file_type().is_file() {
        return Err(not_found());
    }
    let mut file = File::open(path)?;
    // Replaced between the two calls? Still a regular file, or refused.
    if !file.metadata()?.is_file() {
        return Err(not_found());
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[derive(Debug, Deserialize)]
pub(crate) struct HistoryQuery {
    limit: Option<usize>,
}

/// `GET /history?limit=N`: the last N records of `history.jsonl`, oldest first.
pub(crate) async fn history(
    state: web::Data<AdminState>,
    query: web::Query<HistoryQuery>,
) -> HttpResponse {
    let limit = query.limit.unwrap_or(DEFAULT_HISTORY).min(MAX_HISTORY);
    let path: PathBuf = state.output_dir.join("history.jsonl");
    let read = web::block(move || last_lines(&path, limit)).await;
    match read {
        Ok(Ok(lines)) => {
            let records: Vec<serde_json::Value> = lines
                .iter()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            HttpResponse::Ok().json(records)
        }
        Ok(Err(error)) if error.kind() == io::ErrorKind::NotFound => {
            HttpResponse::Ok().json(Vec::<serde_json::Value>::new())
        }
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "cannot read the history");
            error_response(
                HttpResponse::InternalServerError(),
                "cannot read the history",
            )
        }
        Err(_) => error_response(
            HttpResponse::InternalServerError(),
            "cannot read the history",
        ),
    }
}
