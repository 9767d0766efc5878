const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

function input(name) {
  return (process.env[`INPUT_${name.toUpperCase()}`] || "").trim();
}
function append(file, line) {
  fs.appendFileSync(process.env[file], line + "\n");
}
function fail(message) {
  console.log(`::error::${message}`);
  process.exit(1);
}

const wanted = input("python-version");
if (input("python-version-file")) fail("the setup-python stand-in does not implement python-version-file");
const python = execFileSync("sh", ["-c", "command -v python3"]).toString().trim();
const found = execFileSync(python, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]).toString().trim();
if (wanted && !(found === wanted || found.startsWith(wanted + "."))) {
  fail(`The version '${wanted}' with architecture 'x64' was not found for this operating system.`);
}
if (!wanted) console.log("::warning::The `python-version` input is not set. The version of Python currently in `PATH` will be used.");
const prefix = execFileSync(python, ["-c", "import sys; print(sys.base_prefix)"]).toString().trim();

const cache = input("cache");
if (cache) {
  // @actions/glob's hashFiles skips every file outside GITHUB_WORKSPACE; an empty hash fails.
  const workspace = path.resolve(process.env.GITHUB_WORKSPACE || process.cwd());
  const defaults = { pip: "**/requirements.txt", pipenv: "**/Pipfile.lock", poetry: "**/poetry.lock" };
  const patterns = (input("cache-dependency-path") || defaults[cache] || "").split("\n").map((p) => p.trim()).filter(Boolean);
  const inside = patterns
    .map((p) => path.resolve(workspace, p))
    .filter((p) => p.startsWith(workspace + path.sep) && !p.includes("*") && fs.existsSync(p));
  if (inside.length === 0) {
    fail(`No file in ${process.cwd()} matched to [${patterns.join(",")}], make sure you have checked out the target repository`);
  }
}

const bin = path.dirname(python);
if (input("update-environment") !== "false") {
  append("GITHUB_ENV", `pythonLocation=${prefix}`);
  append("GITHUB_PATH", bin);
}
append("GITHUB_OUTPUT", `python-version=${found}`);
append("GITHUB_OUTPUT", `python-path=${python}`);
append("GITHUB_OUTPUT", `cache-hit=false`);
console.log(`Successfully set up CPython (${found})`);
