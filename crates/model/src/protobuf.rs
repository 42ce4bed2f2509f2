//! Protobuf schemas: parsed with protox (no protoc), kept with source positions.
//!
//! A [`ProtoSchema`] is the subject's file (the *entry*) plus every file it imports, compiled into
//! a `FileDescriptorSet` that keeps its source code info, so that any message, field, oneof or
//! enum can be traced back to `file:line:column`. All three ways in (one file, a directory, text
//! in memory) end in [`ProtoSchema::parse_files`].

// A parse fails once per schema, so returning the shared `Diagnostic` by value costs nothing that
// matters, and keeps one error type for every format.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use prost::Message as _;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet, SourceCodeInfo,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::diagnostic::Diagnostic;
use crate::text::{Location, SourceFile, Span};

/// Field numbers of `descriptor.proto`, the steps of a source-info path.
pub mod tag {
    /// `FileDescriptorProto.package`
    pub const FILE_PACKAGE: i32 = 2;
    /// `FileDescriptorProto.message_type`
    pub const FILE_MESSAGE: i32 = 4;
    /// `FileDescriptorProto.enum_type`
    pub const FILE_ENUM: i32 = 5;
    /// `FileDescriptorProto.syntax`
    pub const FILE_SYNTAX: i32 = 12;
    /// `DescriptorProto.field`
    pub const MESSAGE_FIELD: i32 = 2;
    /// `DescriptorProto.nested_type`
    pub const MESSAGE_NESTED: i32 = 3;
    /// `DescriptorProto.enum_type`
    pub const MESSAGE_ENUM: i32 = 4;
    /// `DescriptorProto.oneof_decl`
    pub const MESSAGE_ONEOF: i32 = 8;
    /// `FieldDescriptorProto.name`
    pub const FIELD_NAME: i32 = 1;
    /// `FieldDescriptorProto.number`
    pub const FIELD_NUMBER: i32 = 3;
    /// `FieldDescriptorProto.label`
    pub const FIELD_LABEL: i32 = 4;
    /// `FieldDescriptorProto.type`
    pub const FIELD_TYPE: i32 = 5;
    /// `FieldDescriptorProto.type_name`
    pub const FIELD_TYPE_NAME: i32 = 6;
    /// `EnumDescriptorProto.value`
    pub const ENUM_VALUE: i32 = 2;
}

/// The `syntax` a file declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syntax {
    Proto2,
    Proto3,
    Editions,
}

impl Syntax {
    /// The syntax of a compiled file (no `syntax` statement means proto2).
    pub fn of(file: &FileDescriptorProto) -> Self {
        match file.syntax() {
            "proto3" => Syntax::Proto3,
            "editions" => Syntax::Editions,
            _ => Syntax::Proto2,
        }
    }
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Syntax::Proto2 => "proto2",
            Syntax::Proto3 => "proto3",
            Syntax::Editions => "editions",
        })
    }
}

/// A message or enum found by full name, with the file that declares it.
#[derive(Debug)]
pub struct TypeRef<'a, T> {
    pub descriptor: &'a T,
    pub file: &'a FileDescriptorProto,
    /// Without a leading dot: `shop.orders.OrderCreated.Line`.
    pub full_name: &'a str,
    /// Source-info path of the declaration inside its file.
    pub path: &'a [i32],
}

// By hand: a derive would ask `T: Copy`, and descriptors are not.
impl<T> Clone for TypeRef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for TypeRef<'_, T> {}

pub type MessageRef<'a> = TypeRef<'a, DescriptorProto>;
pub type EnumRef<'a> = TypeRef<'a, EnumDescriptorProto>;

impl<'a, T> TypeRef<'a, T> {
    pub fn file_name(&self) -> &'a str {
        self.file.name()
    }

    /// The declaring file's package, `""` when it has none.
    pub fn package(&self) -> &'a str {
        self.file.package()
    }

    /// The full name without the package: `OrderCreated.Line`.
    pub fn local_name(&self) -> &'a str {
        let package = self.package();
        if package.is_empty() {
            return self.full_name;
        }
        self.full_name
            .strip_prefix(package)
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(self.full_name)
    }
}

impl MessageRef<'_> {
    /// Whether this is the synthetic entry type of a `map<K, V>` field.
    pub fn is_map_entry(&self) -> bool {
        is_map_entry(self.descriptor)
    }
}

/// The `.proto` spelling of a scalar field type (`int32`, `string`, …); `None` for messages,
/// enums and groups, which are named by their type name instead.
pub fn scalar_type_name(ty: prost_types::field_descriptor_proto::Type) -> Option<&'static str> {
    use prost_types::field_descriptor_proto::Type;
    Some(match ty {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Group | Type::Message | Type::Enum => return None,
    })
}

/// Whether a message is the synthetic entry type of a `map<K, V>` field.
pub fn is_map_entry(message: &DescriptorProto) -> bool {
    message
        .options
        .as_ref()
        .and_then(|o| o.map_entry)
        .unwrap_or(false)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeclKind {
    Message,
    Enum,
}

#[derive(Debug, Clone)]
struct Decl {
    file: usize,
    path: Vec<i32>,
    kind: DeclKind,
}

/// A Protobuf schema: the subject's file and the files it imports.
#[derive(Debug, Clone)]
pub struct ProtoSchema {
    /// Every file, dependencies before their importers, with source code info.
    set: FileDescriptorSet,
    entry: usize,
    /// The text of each file that came as text (the well-known imports have none).
    sources: BTreeMap<String, Arc<SourceFile>>,
    /// Messages and enums of every file, by full name without a leading dot.
    decls: HashMap<String, Decl>,
    /// Per file, each source-info path's first location (an index into its locations): findings
    /// are located by path, and a scan per finding made a check with many findings quadratic.
    locations: HashMap<String, HashMap<Vec<i32>, usize>>,
}

impl ProtoSchema {
    /// Compiles `entry` from in-memory files (name → text); imports resolve among `files`, then
    /// among the well-known `google/protobuf/*.proto`.
    pub fn parse_files(files: BTreeMap<String, String>, entry: &str) -> Result<Self, Diagnostic> {
        compile(files, entry, None)
    }

    /// Compiles `entry` (relative to `dir`); imports resolve inside `dir`. Only the files the
    /// entry needs are read.
    pub fn parse_dir(dir: &Path, entry: &str) -> Result<Self, Diagnostic> {
        let Some(entry_name) = file_name(Path::new(entry)) else {
            return Err(Diagnostic::new(format!(
                "\"{entry}\" is not a relative path to a .proto file"
            ))
            .with_help(format!(
                "name the entry file relative to {}, e.g. \"orders/order_created.proto\"",
                dir.display()
            )));
        };
        let files = read_closure(dir, &entry_name)?;
        compile(files, &entry_name, Some(dir))
    }

    /// Compiles one `.proto` file; its imports resolve in the file's directory.
    pub fn parse_file(path: &Path) -> Result<Self, Diagnostic> {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(
                Diagnostic::new(format!("{} does not name a .proto file", path.display()))
                    .with_help("pass the path of a .proto file"),
            );
        };
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => Self::parse_dir(dir, name),
            _ => {
                let files = read_closure(Path::new("."), name)?;
                compile(files, name, None)
            }
        }
    }

    /// The entry file's name, as imports would spell it.
    pub fn entry_name(&self) -> &str {
        self.entry().name()
    }

    /// The entry file's descriptor, with source code info.
    pub fn entry(&self) -> &FileDescriptorProto {
        // `compile` only builds a schema whose entry index is in the set.
        &self.set.file[self.entry]
    }

    /// The entry file's source.
    pub fn entry_source(&self) -> Option<&Arc<SourceFile>> {
        self.sources.get(self.entry_name())
    }

    /// The entry file's text, as given.
    pub fn entry_text(&self) -> &str {
        self.entry_source().map_or("", |s| s.text())
    }

    /// The entry `FileDescriptorProto` in wire format, without source code info (the form the
    /// registry's `serialized` format carries).
    pub fn entry_descriptor_bytes(&self) -> Vec<u8> {
        let file = FileDescriptorProto {
            source_code_info: None,
            ..self.entry().clone()
        };
        file.encode_to_vec()
    }

    /// The entry file's package; `None` when it declares none.
    pub fn package(&self) -> Option<&str> {
        Some(self.entry().package()).filter(|p| !p.is_empty())
    }

    /// The entry file's syntax.
    pub fn syntax(&self) -> Syntax {
        Syntax::of(self.entry())
    }

    /// Every compiled file, dependencies first.
    pub fn files(&self) -> &FileDescriptorSet {
        &self.set
    }

    /// A compiled file by name.
    pub fn file(&self, name: &str) -> Option<&FileDescriptorProto> {
        self.set.file.iter().find(|f| f.name() == name)
    }

    /// The text of a file by name (`None` for well-known imports).
    pub fn source(&self, file: &str) -> Option<&Arc<SourceFile>> {
        self.sources.get(file)
    }

    /// Whether `file` is the entry file.
    pub fn is_entry(&self, file: &str) -> bool {
        self.entry_name() == file
    }

    /// A message of any file by full name (a leading dot is allowed).
    pub fn message(&self, full_name: &str) -> Option<MessageRef<'_>> {
        let (full_name, decl) = self.decl(full_name, DeclKind::Message)?;
        let file = self.set.file.get(decl.file)?;
        let descriptor = walk_message(file, &decl.path)?;
        Some(TypeRef {
            descriptor,
            file,
            full_name,
            path: &decl.path,
        })
    }

    /// An enum of any file by full name (a leading dot is allowed).
    pub fn enum_type(&self, full_name: &str) -> Option<EnumRef<'_>> {
        let (full_name, decl) = self.decl(full_name, DeclKind::Enum)?;
        let file = self.set.file.get(decl.file)?;
        let descriptor = walk_enum(file, &decl.path)?;
        Some(TypeRef {
            descriptor,
            file,
            full_name,
            path: &decl.path,
        })
    }

    fn decl(&self, full_name: &str, kind: DeclKind) -> Option<(&str, &Decl)> {
        let name = full_name.strip_prefix('.').unwrap_or(full_name);
        let (name, decl) = self.decls.get_key_value(name)?;
        (decl.kind == kind).then_some((name.as_str(), decl))
    }

    /// Where the element at a source-info `path` of `file` starts (e.g. `[4, 0, 2, 1]` is the
    /// second field of the first message).
    pub fn location_of(&self, file: &str, path: &[i32]) -> Option<Location> {
        let span = self.raw_span(file, path)?;
        match self.span_of(file, path) {
            Some((source, span)) => Some(source.location(span)),
            None => Some(Location {
                file: PathBuf::from(file),
                line: usize::try_from(*span.first()?).ok()? + 1,
                column: usize::try_from(*span.get(1)?).ok()? + 1,
            }),
        }
    }

    /// The text and byte range of the element at `path` of `file`, for rendering.
    pub fn span_of(&self, file: &str, path: &[i32]) -> Option<(&Arc<SourceFile>, Span)> {
        let span = self.raw_span(file, path)?;
        let source = self.sources.get(file)?;
        let (start_line, start_col, end_line, end_col) = match *span {
            [line, start, end] => (line, start, line, end),
            [start_line, start, end_line, end] => (start_line, start, end_line, end),
            _ => return None,
        };
        let offset = |line: i32, col: i32| {
            Some(source.offset_at_line(usize::try_from(line).ok()? + 1, usize::try_from(col).ok()?))
        };
        let start = offset(start_line, start_col)?;
        let end = offset(end_line, end_col)?.max(start);
        Some((source, Span::new(start, end)))
    }

    fn raw_span(&self, file: &str, path: &[i32]) -> Option<&[i32]> {
        let index = *self.locations.get(file)?.get(path)?;
        let location = self
            .file(file)?
            .source_code_info
            .as_ref()?
            .location
            .get(index)?;
        Some(location.span.as_slice())
    }
}

/// The message at a path `[4, i, (3, j)*]`.
fn walk_message<'a>(file: &'a FileDescriptorProto, path: &[i32]) -> Option<&'a DescriptorProto> {
    let [tag::FILE_MESSAGE, first, rest @ ..] = path else {
        return None;
    };
    let mut message = file.message_type.get(usize::try_from(*first).ok()?)?;
    for step in rest.chunks(2) {
        let [tag::MESSAGE_NESTED, index] = step else {
            return None;
        };
        message = message.nested_type.get(usize::try_from(*index).ok()?)?;
    }
    Some(message)
}

/// The enum at a path `[5, i]` or `[4, i, (3, j)*, 4, k]`.
fn walk_enum<'a>(file: &'a FileDescriptorProto, path: &[i32]) -> Option<&'a EnumDescriptorProto> {
    match path {
        [tag::FILE_ENUM, index] => file.enum_type.get(usize::try_from(*index).ok()?),
        [parent @ .., tag::MESSAGE_ENUM, index] => walk_message(file, parent)?
            .enum_type
            .get(usize::try_from(*index).ok()?),
        _ => None,
    }
}

fn index_decls(set: &FileDescriptorSet) -> HashMap<String, Decl> {
    fn message(
        decls: &mut HashMap<String, Decl>,
        file: usize,
        scope: &str,
        path: Vec<i32>,
        m: &DescriptorProto,
    ) {
        let name = join(scope, m.name());
        for (i, e) in (0i32..).zip(&m.enum_type) {
            let mut p = path.clone();
            p.extend([tag::MESSAGE_ENUM, i]);
            decls.insert(
                join(&name, e.name()),
                Decl {
                    file,
                    path: p,
                    kind: DeclKind::Enum,
                },
            );
        }
        for (i, nested) in (0i32..).zip(&m.nested_type) {
            let mut p = path.clone();
            p.extend([tag::MESSAGE_NESTED, i]);
            message(decls, file, &name, p, nested);
        }
        decls.insert(
            name,
            Decl {
                file,
                path,
                kind: DeclKind::Message,
            },
        );
    }

    let mut decls = HashMap::new();
    for (f, file) in set.file.iter().enumerate() {
        let package = file.package();
        for (i, m) in (0i32..).zip(&file.message_type) {
            message(&mut decls, f, package, vec![tag::FILE_MESSAGE, i], m);
        }
        for (i, e) in (0i32..).zip(&file.enum_type) {
            decls.insert(
                join(package, e.name()),
                Decl {
                    file: f,
                    path: vec![tag::FILE_ENUM, i],
                    kind: DeclKind::Enum,
                },
            );
        }
    }
    decls
}

fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

/// The import-style name of a relative path (`a/b.proto`); `None` for absolute paths or paths
/// that climb out with `..`, which would escape the schema directory.
fn file_name(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Reads `entry` and, transitively, the files it imports from `dir`. Imports not found in `dir`
/// are left to the compiler (well-known imports, or an "import not found" error with its span).
fn read_closure(dir: &Path, entry: &str) -> Result<BTreeMap<String, String>, Diagnostic> {
    let mut files = BTreeMap::new();
    let mut queue = vec![entry.to_string()];
    while let Some(name) = queue.pop() {
        if files.contains_key(&name) {
            continue;
        }
        let Some(relative) = file_name(Path::new(&name)) else {
            continue;
        };
        let path = dir.join(&relative);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != entry => continue,
            Err(e) => {
                return Err(
                    Diagnostic::new(format!("cannot read {}: {e}", path.display())).with_help(
                        if name == entry {
                            "check the path of the schema file"
                        } else {
                            "check the file's permissions"
                        },
                    ),
                );
            }
        };
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(
                Diagnostic::new(format!("{} is not valid UTF-8", path.display()))
                    .with_help("save the .proto file as UTF-8"),
            );
        };
        // A file that does not parse is still kept: the compiler reports its error with a span.
        if let Ok(parsed) = File::from_source(&name, &text) {
            queue.extend(parsed.file_descriptor_proto().dependency.iter().cloned());
        }
        files.insert(name, text);
    }
    Ok(files)
}

/// Resolves imports among in-memory files.
///
/// The compiler gets each file without its source code info, which is kept aside here and put
/// back into the result. With source info, every error the descriptor check finds looks up its
/// position by scanning all locations and the text from the start: a file with thousands of bad
/// fields took seconds per hundred kilobytes. The first error is located afterwards, once.
#[derive(Debug)]
struct MemoryResolver {
    files: BTreeMap<String, String>,
    source_info: Arc<Mutex<HashMap<String, SourceCodeInfo>>>,
}

impl FileResolver for MemoryResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let Some(text) = self.files.get(name) else {
            return Err(protox::Error::file_not_found(name));
        };
        let mut descriptor = File::from_source(name, text)?
            .file_descriptor_proto()
            .clone();
        if let Some(info) = descriptor.source_code_info.take() {
            self.source_info
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_string(), info);
        }
        Ok(File::from_file_descriptor_proto(descriptor))
    }
}

/// Resolves imports among in-memory files, with their text: for errors about imports, whose
/// position the compiler takes from the importing file's text.
#[derive(Debug)]
struct MemorySourceResolver {
    files: BTreeMap<String, String>,
}

impl FileResolver for MemorySourceResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.files.get(name) {
            Some(text) => File::from_source(name, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

fn compiler<R: FileResolver + 'static>(resolver: R) -> protox::Compiler {
    let mut chain = ChainFileResolver::new();
    chain.add(resolver);
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_source_info(true).include_imports(true);
    compiler
}

fn compile(
    files: BTreeMap<String, String>,
    entry: &str,
    root: Option<&Path>,
) -> Result<ProtoSchema, Diagnostic> {
    let display = |name: &str| match root {
        Some(root) => root.join(name),
        None => PathBuf::from(name),
    };
    let Some(entry_name) = file_name(Path::new(entry)) else {
        return Err(
            Diagnostic::new(format!("\"{entry}\" is not a valid .proto file name"))
                .with_help("use a relative name such as \"orders/order_created.proto\""),
        );
    };
    if !files.contains_key(&entry_name) {
        let known: Vec<&str> = files.keys().map(String::as_str).collect();
        return Err(Diagnostic::new(format!(
            "file \"{entry_name}\" is not among the given files"
        ))
        .with_help(if known.is_empty() {
            "no files were given".to_string()
        } else {
            format!("the given files are: {}", known.join(", "))
        }));
    }
    let sources: BTreeMap<String, Arc<SourceFile>> = files
        .iter()
        .map(|(name, text)| (name.clone(), SourceFile::new(display(name), text.as_str())))
        .collect();

    let source_info = Arc::new(Mutex::new(HashMap::new()));
    let mut compiler = compiler(MemoryResolver {
        files: files.clone(),
        source_info: Arc::clone(&source_info),
    });
    if let Err(err) = compiler.open_file(&entry_name) {
        let source_info =
            std::mem::take(&mut *source_info.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(diagnostic) = locate_check_error(&files, &entry_name, &source_info, &sources) {
            return Err(diagnostic);
        }
        // Not an error of the descriptor check (a syntax error, an import that is missing or
        // listed twice): the compiler reports those one at a time and takes their position
        // from the file's text, so compile once more with it.
        let err = compiler_with_sources(&files, &entry_name)
            .err()
            .unwrap_or(err);
        return Err(diagnostic(&err, &sources));
    }
    let source_info = std::mem::take(&mut *source_info.lock().unwrap_or_else(|e| e.into_inner()));
    let mut set = compiler.file_descriptor_set();
    for file in &mut set.file {
        if let Some(info) = source_info.get(file.name()) {
            file.source_code_info = Some(info.clone());
        }
    }
    let Some(entry) = set.file.iter().position(|f| f.name() == entry_name) else {
        return Err(Diagnostic::new(format!(
            "the compiler did not produce \"{entry_name}\""
        )));
    };
    let sources = sources
        .into_iter()
        .filter(|(name, _)| set.file.iter().any(|f| f.name() == name))
        .collect();
    let decls = index_decls(&set);
    let locations = index_locations(&set);
    Ok(ProtoSchema {
        set,
        entry,
        sources,
        decls,
        locations,
    })
}

fn index_locations(set: &FileDescriptorSet) -> HashMap<String, HashMap<Vec<i32>, usize>> {
    set.file
        .iter()
        .map(|f| {
            let mut by_path = HashMap::new();
            for (i, l) in f
                .source_code_info
                .iter()
                .flat_map(|s| s.location.iter())
                .enumerate()
            {
                by_path.entry(l.path.clone()).or_insert(i);
            }
            (f.name().to_string(), by_path)
        })
        .collect()
}

fn compiler_with_sources(
    files: &BTreeMap<String, String>,
    entry: &str,
) -> Result<(), protox::Error> {
    compiler(MemorySourceResolver {
        files: files.clone(),
    })
    .open_file(entry)
    .map(|_| ())
}

/// The first error of the descriptor check, at its position: the files (imports first, without
/// source info) go through the same check the compiler runs, whose error names the element's
/// path; the path's span comes from the source info kept aside. `None` when the check passes,
/// i.e. the compiler failed for another reason.
fn locate_check_error(
    files: &BTreeMap<String, String>,
    entry: &str,
    source_info: &HashMap<String, SourceCodeInfo>,
    sources: &BTreeMap<String, Arc<SourceFile>>,
) -> Option<Diagnostic> {
    // The entry and the files it imports, imports before their importers, as the compiler
    // adds them.
    let google = GoogleFileResolver::new();
    let mut ordered: Vec<FileDescriptorProto> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    fn visit(
        name: &str,
        files: &BTreeMap<String, String>,
        google: &GoogleFileResolver,
        seen: &mut HashSet<String>,
        ordered: &mut Vec<FileDescriptorProto>,
    ) -> Option<()> {
        if !seen.insert(name.to_string()) {
            return Some(());
        }
        let mut descriptor = match files.get(name) {
            Some(text) => File::from_source(name, text)
                .ok()?
                .file_descriptor_proto()
                .clone(),
            None => google.open_file(name).ok()?.file_descriptor_proto().clone(),
        };
        descriptor.source_code_info = None;
        for dependency in descriptor.dependency.clone() {
            visit(&dependency, files, google, seen, ordered)?;
        }
        ordered.push(descriptor);
        Some(())
    }
    visit(entry, files, &google, &mut seen, &mut ordered)?;
    let err = prost_reflect::DescriptorPool::new()
        .add_file_descriptor_protos(ordered)
        .err()?;
    let file = err.file()?;
    let message = err.to_string();
    let help = miette::Diagnostic::help(&err)
        .map_or_else(|| hint(&message).to_string(), |h| h.to_string());
    let mut diagnostic = Diagnostic::new(message).with_help(help);
    let (Some(source), Some(path)) = (sources.get(file), err.path()) else {
        return Some(diagnostic);
    };
    let span = source_info
        .get(file)?
        .location
        .iter()
        .find(|l| l.path == path)
        .map(|l| l.span.as_slice());
    if let Some(&[line, col, ..]) = span {
        let start = source.offset_at_line(usize::try_from(line).ok()? + 1, 0);
        // the column is counted in characters: walk them to the byte offset
        let start = source.text()[start..]
            .char_indices()
            .nth(usize::try_from(col).ok()?)
            .map_or(start, |(i, _)| start + i);
        diagnostic = diagnostic.at(source, Span::new(start, start));
    }
    Some(diagnostic)
}

/// What to do about an error of the descriptor check, from its message.
fn hint(message: &str) -> &'static str {
    if message.contains("is not defined") {
        "declare the type, import the file that declares it, or qualify its name with the \
         package"
    } else if message.contains("defined twice") {
        "rename one of the two definitions"
    } else if message.contains("already used") {
        "give each field its own number"
    } else if message.contains("reserved") {
        "use a number or name outside the reserved ones, or drop the reservation"
    } else {
        "fix the definition at the marked position"
    }
}

/// Turns a protox error into a diagnostic at the offending text.
fn diagnostic(err: &protox::Error, sources: &BTreeMap<String, Arc<SourceFile>>) -> Diagnostic {
    use miette::Diagnostic as _;

    let message = err.to_string();
    let help = err.help().map(|h| h.to_string()).unwrap_or_else(|| {
        if err.is_file_not_found() {
            "imports resolve relative to the schema directory; the well-known \
             \"google/protobuf/*.proto\" files are built in"
        } else if err.is_parse() {
            "fix the syntax at the marked position"
        } else {
            hint(&message)
        }
        .to_string()
    });
    let mut diagnostic = Diagnostic::new(message).with_help(help);
    let Some(source) = err.file().and_then(|f| sources.get(f)) else {
        return diagnostic;
    };
    let labels: Vec<Span> = err
        .labels()
        .into_iter()
        .flatten()
        .map(|l| Span::new(l.offset(), l.offset().saturating_add(l.len())))
        .filter(|s| s.start <= source.text().len())
        .collect();
    // protox prints the primary position as `file:line:col: message`; when an error has several
    // labels (a duplicate name shows both definitions) it tells which one is the error.
    let primary = primary_line_col(err, source);
    let span = match primary {
        Some((line, col)) => labels
            .iter()
            .copied()
            .find(|s| source.line_col(s.start) == (line, col))
            .or_else(|| {
                labels
                    .iter()
                    .copied()
                    .find(|s| source.line_col(s.start).0 == line)
            })
            .unwrap_or_else(|| {
                let start = source.offset_at_line(line, 0);
                // the column is counted in characters: walk them to the byte offset
                let start = source.text()[start..]
                    .char_indices()
                    .nth(col.saturating_sub(1))
                    .map_or(start, |(i, _)| start + i);
                Span::new(start, start)
            }),
        None => match labels.first() {
            Some(&span) => span,
            None => return diagnostic,
        },
    };
    diagnostic = diagnostic.at(source, span);
    diagnostic
}

/// The 1-based `line:col` that protox's one-line rendering puts after the file name.
fn primary_line_col(err: &protox::Error, source: &SourceFile) -> Option<(usize, usize)> {
    let file = err.file()?;
    let debug = format!("{err:?}");
    let rest = debug.strip_prefix(file)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let line: usize = parts.next()?.parse().ok()?;
    let col: usize = parts.next()?.parse().ok()?;
    (line >= 1 && line <= source.text().lines().count().max(1)).then_some((line, col))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    // through render(): the help line is what users see
    fn has_help(err: &Diagnostic) -> bool {
        err.render().contains("\n   = help: ")
    }

    fn parse(text: &str) -> Result<ProtoSchema, Diagnostic> {
        ProtoSchema::parse_files(files(&[("test.proto", text)]), "test.proto")
    }

    const ORDER: &str = r#"syntax = "proto3";
package shop.orders;

import "google/protobuf/timestamp.proto";
import "common/money.proto";

message OrderCreated {
  string order_id = 1;
  int32 quantity = 2;
  shop.common.Money total = 3;
  google.protobuf.Timestamp at = 4;
  oneof payment {
    string card = 5;
    string iban = 6;
  }
  message Line {
    Status status = 1;
  }
  enum Status {
    STATUS_UNSPECIFIED = 0;
  }
  map<string, int32> counts = 7;
}
"#;

    const MONEY: &str = r#"syntax = "proto3";
package shop.common;

message Money {
  string currency = 1;
  int64 units = 2;
}
"#;

    fn order() -> ProtoSchema {
        ProtoSchema::parse_files(
            files(&[("orders/order.proto", ORDER), ("common/money.proto", MONEY)]),
            "orders/order.proto",
        )
        .expect("parses")
    }

    #[test]
    fn exposes_entry_package_syntax_and_text() {
        let s = order();
        assert_eq!(s.entry_name(), "orders/order.proto");
        assert_eq!(s.package(), Some("shop.orders"));
        assert_eq!(s.syntax(), Syntax::Proto3);
        assert_eq!(s.entry_text(), ORDER);
        assert_eq!(s.entry().message_type[0].name(), "OrderCreated");
        assert!(s.file("google/protobuf/timestamp.proto").is_some());
        assert!(s.source("google/protobuf/timestamp.proto").is_none());
        let bytes = s.entry_descriptor_bytes();
        let back = FileDescriptorProto::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(back.name(), "orders/order.proto");
        assert!(back.source_code_info.is_none());
    }

    #[test]
    fn finds_messages_across_imports_and_nesting() {
        let s = order();
        let money = s.message(".shop.common.Money").expect("imported message");
        assert_eq!(money.file_name(), "common/money.proto");
        assert_eq!(money.local_name(), "Money");
        assert_eq!(money.package(), "shop.common");
        let line = s.message("shop.orders.OrderCreated.Line").expect("nested");
        assert_eq!(line.local_name(), "OrderCreated.Line");
        assert_eq!(line.path, &[4, 0, 3, 0]);
        let entry = s
            .message("shop.orders.OrderCreated.CountsEntry")
            .expect("map entry");
        assert!(entry.is_map_entry());
        assert!(s.enum_type("shop.orders.OrderCreated.Status").is_some());
        assert!(s.message("shop.orders.OrderCreated.Status").is_none());
        assert!(s.message("google.protobuf.Timestamp").is_some());
        assert!(s.message("Nope").is_none());
    }

    #[test]
    fn locates_messages_fields_oneofs_and_enums() {
        let s = order();
        let at = |path: &[i32]| {
            let loc = s.location_of("orders/order.proto", path).expect("located");
            (loc.line, loc.column)
        };
        assert_eq!(at(&[4, 0]), (7, 1));
        assert_eq!(at(&[4, 0, 2, 1]), (9, 3));
        assert_eq!(at(&[4, 0, 2, 1, 5]), (9, 3));
        assert_eq!(at(&[4, 0, 8, 0]), (12, 3));
        assert_eq!(at(&[4, 0, 4, 0]), (19, 3));
        assert_eq!(at(&[4, 0, 3, 0, 2, 0]), (17, 5));
        let loc = s
            .location_of("common/money.proto", &[4, 0, 2, 1])
            .expect("located in the import");
        assert_eq!(loc.file, PathBuf::from("common/money.proto"));
        assert_eq!((loc.line, loc.column), (6, 3));
        assert!(s.location_of("orders/order.proto", &[4, 9]).is_none());
    }

    #[test]
    fn parse_errors_point_at_the_text_with_help() {
        let err = parse("syntax = \"proto3\";\nmessage A {\n  int32 x = ;\n}\n").unwrap_err();
        let loc = err.location().expect("located");
        assert_eq!(loc.file, PathBuf::from("test.proto"));
        assert_eq!((loc.line, loc.column), (3, 13));
        assert!(has_help(&err));
        assert!(err.render().contains("int32 x = ;"), "{}", err.render());
    }

    #[test]
    fn unresolved_names_point_at_the_use() {
        let err = parse("syntax = \"proto3\";\nmessage A {\n  Missing m = 1;\n}\n").unwrap_err();
        assert!(err.to_string().contains("Missing"), "{err}");
        let loc = err.location().expect("located");
        assert_eq!((loc.line, loc.column), (3, 3));
    }

    #[test]
    fn a_file_with_thousands_of_bad_fields_is_reported_at_the_first_one() {
        let mut text = String::from("syntax = \"proto3\";\nmessage A {\n  string ok = 1;\n");
        for i in 0..5_000 {
            text.push_str(&format!("  string f{i} = 19500;\n"));
        }
        text.push_str("}\n");
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("19500"), "{err}");
        assert!(has_help(&err), "{}", err.render());
        let loc = err.location().expect("located");
        assert_eq!((loc.line, loc.column), (4, 15), "{}", err.render());

        let mut text = String::from("syntax = \"proto3\";\nmessage A {\n");
        for i in 0..5_000 {
            text.push_str(&format!("  Nowhere{i} f{i} = {};\n", i + 1));
        }
        text.push_str("}\n");
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("Nowhere0"), "{err}");
        let loc = err.location().expect("located");
        assert_eq!((loc.line, loc.column), (3, 3), "{}", err.render());
    }

    #[test]
    fn duplicate_names_point_at_the_second_definition() {
        let err =
            parse("syntax = \"proto3\";\nmessage A {}\nmessage B {}\nmessage A {}\n").unwrap_err();
        let loc = err.location().expect("located");
        assert_eq!(loc.line, 4, "{}", err.render());
    }

    #[test]
    fn missing_imports_point_at_the_import() {
        let err = parse("syntax = \"proto3\";\nimport \"nope.proto\";\n").unwrap_err();
        assert!(err.to_string().contains("nope.proto"), "{err}");
        let loc = err.location().expect("located");
        assert_eq!(loc.line, 2);
        assert!(has_help(&err));
    }

    #[test]
    fn errors_in_imports_name_the_imported_file() {
        let err = ProtoSchema::parse_files(
            files(&[
                ("a.proto", "syntax = \"proto3\";\nimport \"b.proto\";\n"),
                ("b.proto", "syntax = \"proto3\";\n\nmessage {\n"),
            ]),
            "a.proto",
        )
        .unwrap_err();
        let loc = err.location().expect("located");
        assert_eq!(loc.file, PathBuf::from("b.proto"));
        assert_eq!(loc.line, 3);
    }

    #[test]
    fn unknown_entry_is_a_diagnostic() {
        let err = ProtoSchema::parse_files(files(&[("a.proto", "")]), "b.proto").unwrap_err();
        assert!(err.to_string().contains("b.proto"));
        assert!(
            err.render()
                .contains("= help: the given files are: a.proto")
        );
        assert!(ProtoSchema::parse_files(BTreeMap::new(), "../x.proto").is_err());
    }

    #[test]
    fn parses_from_a_directory_and_a_single_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("orders")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("common")).expect("mkdir");
        std::fs::write(dir.path().join("orders/order.proto"), ORDER).expect("write");
        std::fs::write(dir.path().join("common/money.proto"), MONEY).expect("write");
        // not imported, and broken: must not matter
        std::fs::write(dir.path().join("other.proto"), "garbage").expect("write");

        let s = ProtoSchema::parse_dir(dir.path(), "orders/order.proto").expect("parses");
        assert_eq!(s.entry_name(), "orders/order.proto");
        let loc = s
            .location_of("orders/order.proto", &[4, 0])
            .expect("located");
        assert_eq!(loc.file, dir.path().join("orders/order.proto"));
        assert!(s.message("shop.common.Money").is_some());

        let single =
            ProtoSchema::parse_file(&dir.path().join("common/money.proto")).expect("parses alone");
        assert_eq!(single.entry_name(), "money.proto");
        assert_eq!(single.package(), Some("shop.common"));

        let err = ProtoSchema::parse_dir(dir.path(), "missing.proto").unwrap_err();
        assert!(err.to_string().contains("missing.proto"));
        let err = ProtoSchema::parse_dir(dir.path(), "/etc/passwd").unwrap_err();
        assert!(has_help(&err));
    }

    #[test]
    fn proto2_and_no_package() {
        let s = parse("message A { required int32 x = 1; }").expect("parses");
        assert_eq!(s.syntax(), Syntax::Proto2);
        assert_eq!(s.package(), None);
        assert_eq!(s.message("A").map(|m| m.local_name()), Some("A"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = parse(&text);
        }

        #[test]
        fn proto_like_text_never_panics(
            text in "(syntax = \"proto[23]\";|package [a-z.]{0,6};|import \"[a-z/]{0,6}(\\.proto)?\";|message [A-Za-z]{1,3} \\{|\\}|oneof o \\{|(repeated |optional |required )?(int32|string|map<string, ?[A-Za-z.]{1,4}>|[A-Z][a-z.]{0,4}) [a-z]{1,3} = -?[0-9]{1,3};|enum E \\{|[A-Z]{1,2} = [0-9];|reserved [0-9, ]{1,5};| |\n){0,40}"
        ) {
            let _ = parse(&text);
        }
    }
}
