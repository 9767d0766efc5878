const fs = require("fs");
const { execFileSync } = require("child_process");
const { entry, paths } = require("./common.js");

const key = process.env.STATE_CACHE_KEY || "";
if (!key) {
  console.log("::warning::Error retrieving key from state.");
  process.exit(0);
}
if (process.env.STATE_CACHE_RESULT === key) {
  console.log(`Cache hit occurred on the primary key ${key}, not saving cache.`);
  process.exit(0);
}
const existing = paths().filter((p) => fs.existsSync(p));
if (existing.length === 0) {
  console.log("::warning::Path Validation Error: Path(s) specified in the action for caching do(es) not exist, hence no cache is being saved.");
  process.exit(0);
}
const file = entry(key);
if (fs.existsSync(file)) {
  // Entries are immutable: a second save of a key is refused (the real action warns, too).
  console.log(`::warning::Failed to save: Unable to reserve cache with key ${key}, another job may be creating this cache.`);
  process.exit(0);
}
execFileSync("tar", ["-cPf", file + ".tmp", ...existing], { stdio: "inherit" });
fs.renameSync(file + ".tmp", file);
console.log(`Cache saved with key: ${key}`);
