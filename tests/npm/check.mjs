// A minimal check runner shared by the client tests: each check prints
// "ok NAME" or "FAIL NAME: why"; finish() exits 1 when any failed.
let passed = 0;
let failed = 0;

export async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
