//! Content types by file name: a small built-in table. Text and source files are
//! `text/plain; charset=utf-8`, so a browser shows them instead of downloading them.

/// `(extension, content type)`, extensions in lower case.
const TABLE: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("webmanifest", "application/manifest+json"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/x-icon"),
    ("bmp", "image/bmp"),
    ("pdf", "application/pdf"),
    ("wasm", "application/wasm"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("br", "application/octet-stream"),
    ("zst", "application/zstd"),
    ("xz", "application/x-xz"),
    ("bz2", "application/x-bzip2"),
    ("tar", "application/x-tar"),
    ("7z", "application/x-7z-compressed"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("opus", "audio/opus"),
    ("flac", "audio/flac"),
    ("wav", "audio/wav"),
    ("m4a", "audio/mp4"),
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("webm", "video/webm"),
    ("ogv", "video/ogg"),
    ("mov", "video/quicktime"),
    ("mkv", "video/x-matroska"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("csv", "text/csv; charset=utf-8"),
    ("tsv", "text/tab-separated-values; charset=utf-8"),
];

const TEXT: &str = "text/plain; charset=utf-8";

/// Extensions of text and source files, shown as plain text.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "text",
    "md",
    "markdown",
    "rst",
    "adoc",
    "org",
    "tex",
    "log",
    "rs",
    "toml",
    "yaml",
    "yml",
    "ini",
    "cfg",
    "conf",
    "properties",
    "env",
    "lock",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "bat",
    "py",
    "pyi",
    "rb",
    "pl",
    "pm",
    "php",
    "lua",
    "go",
    "c",
    "h",
    "cc",
    "cpp",
    "cxx",
    "hh",
    "hpp",
    "hxx",
    "m",
    "mm",
    "java",
    "kt",
    "kts",
    "scala",
    "groovy",
    "gradle",
    "swift",
    "cs",
    "fs",
    "vb",
    "ts",
    "tsx",
    "jsx",
    "vue",
    "svelte",
    "dart",
    "zig",
    "nim",
    "ex",
    "exs",
    "erl",
    "hrl",
    "hs",
    "ml",
    "mli",
    "clj",
    "cljs",
    "el",
    "lisp",
    "scm",
    "r",
    "jl",
    "sql",
    "graphql",
    "proto",
    "cmake",
    "mk",
    "make",
    "diff",
    "patch",
    "s",
    "asm",
    "v",
    "sv",
    "vhd",
    "d",
    "tf",
    "hcl",
    "nix",
    "gitignore",
    "gitattributes",
    "editorconfig",
    "dockerignore",
];

/// Names without (or besides) an extension that are text: build files, licences, readmes.
const TEXT_NAMES: &[&str] = &[
    "makefile",
    "gnumakefile",
    "dockerfile",
    "containerfile",
    "vagrantfile",
    "gemfile",
    "rakefile",
    "procfile",
    "justfile",
    "license",
    "licence",
    "copying",
    "notice",
    "authors",
    "contributors",
    "changelog",
    "changes",
    "news",
    "readme",
    "install",
    "todo",
    "version",
    "codeowners",
];

/// The content type for a file named `name` (the last path component); `application/octet-stream`
/// when nothing says what it is.
pub(crate) fn content_type(name: &[u8]) -> &'static str {
    let name = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    let name = std::str::from_utf8(name).unwrap_or("");
    let stem = name.split('.').next().unwrap_or("");
    if TEXT_NAMES.iter().any(|n| names_text(stem, n)) {
        return TEXT;
    }
    let Some((_, ext)) = name.rsplit_once('.') else {
        return "application/octet-stream";
    };
    if let Some((_, t)) = TABLE.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)) {
        return t;
    }
    if TEXT_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)) {
        return TEXT;
    }
    "application/octet-stream"
}

/// Whether `stem` is the text name `n`, alone or with a suffix (`LICENSE-MIT`, `README_fr`).
fn names_text(stem: &str, n: &str) -> bool {
    let Some(head) = stem.get(..n.len()) else {
        return false;
    };
    head.eq_ignore_ascii_case(n) && matches!(stem.as_bytes().get(n.len()), None | Some(b'-' | b'_'))
}

/// What a listing shows in its "Type" column for a file named `name`.
pub(crate) fn kind(name: &[u8]) -> &'static str {
    let t = content_type(name);
    let main = t.split(';').next().unwrap_or(t);
    match main {
        "text/html" => "HTML page",
        "text/css" => "Stylesheet",
        "text/javascript" => "JavaScript",
        "text/plain" => "Text",
        "text/csv" | "text/tab-separated-values" => "Table",
        "application/json" | "application/manifest+json" => "JSON",
        "application/xml" => "XML",
        "application/pdf" => "PDF document",
        "application/wasm" => "WebAssembly",
        "image/svg+xml" => "SVG image",
        "application/octet-stream" => "File",
        _ if main.starts_with("image/") => "Image",
        _ if main.starts_with("audio/") => "Audio",
        _ if main.starts_with("video/") => "Video",
        _ if main.starts_with("font/") => "Font",
        _ => "Archive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_build_files_are_text() {
        for name in [
            "main.rs",
            "Cargo.toml",
            "ci.yaml",
            "run.sh",
            "Makefile",
            "LICENSE",
            "README",
            "LICENSE-MIT",
            "notes.md",
            "x.PY",
        ] {
            assert_eq!(content_type(name.as_bytes()), TEXT, "{name}");
        }
        assert_eq!(content_type(b"a/b/index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type(b"photo.JPG"), "image/jpeg");
        assert_eq!(content_type(b"blob"), "application/octet-stream");
        assert_eq!(content_type(b"data.bin"), "application/octet-stream");
        assert_eq!(kind(b"x.png"), "Image");
        assert_eq!(kind(b"x.tar"), "Archive");
    }
}
