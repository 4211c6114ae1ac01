import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger, MetricValue } from '../core/index.js'
import {
  PluginRunner,
  goExecError,
  parsePluginArgs,
  parsePluginEntry,
  pluginGitReset,
  pluginGitUpdate,
  pluginVersion,
  resolvePlugins,
  runProcess,
} from './plugins.js'

// Captured before any test mocks the timers, so deadlines stay real.
const realSetTimeout = globalThis.setTimeout
const pause = (ms: number) => new Promise<void>((res) => realSetTimeout(res, ms))

async function waitFor(what: string, cond: () => boolean, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await pause(20)
  }
}

const temps: string[] = []
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true })
})

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'peregrine-plugins-'))
  temps.push(d)
  return d
}

function script(dir: string, rel: string, body: string, mode = 0o755): string {
  const file = join(dir, rel)
  mkdirSync(join(file, '..'), { recursive: true })
  writeFileSync(file, `#!/bin/sh\n${body}\n`)
  chmodSync(file, mode)
  return file
}

interface Captured {
  log: Logger
  lines: { level: string; message: string }[]
  has(level: string, part: string): boolean
}

function captureLog(): Captured {
  const lines: { level: string; message: string }[] = []
  const at = (level: string) => (message: string) => void lines.push({ level, message })
  return {
    log: { info: at('info'), warn: at('warn'), error: at('error') },
    lines,
    has: (level, part) => lines.some((l) => l.level === level && l.message.includes(part)),
  }
}

const NOW_MS = 1_700_000_100_000
const item = (metric: string, value: number): MetricValue => ({
  endpoint: 'host-1',
  metric,
  value,
  step: 60,
  counterType: 'GAUGE',
  tags: 'a=b',
  timestamp: 1_700_000_000,
})
const printJson = (v: unknown) => `echo '${JSON.stringify(v)}'`

function makeRunner(dir: string, logs = join(dir, '..', 'logs')) {
  const pushes: MetricValue[][] = []
  const cap = captureLog()
  const runner = new PluginRunner({
    dir,
    logs,
    push: (items) => void pushes.push(items),
    log: cap.log,
    now: () => NOW_MS,
  })
  return { runner, pushes, cap, logs }
}

// A process counts as gone once it no longer exists or is a zombie waiting for a reaper (in a
// container, pid 1 may never reap it).
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return true
  }
}

describe('parsePluginEntry', () => {
  const f = (entry: string, path: string, args: string) =>
    assert.deepEqual(parsePluginEntry(entry), { path, args }, entry)
  it('splits path and args as falcon’s (.*)\\((.*)\\)', () => {
    f('sys/ntp', 'sys/ntp', '')
    f('sys/ntp/60_ntp.py', 'sys/ntp/60_ntp.py', '')
    f('sys/ntp/60_ntp.py(arg1,arg2)', 'sys/ntp/60_ntp.py', 'arg1,arg2')
    f('sys/ntp/60_ntp.py()', 'sys/ntp/60_ntp.py', '')
    // Greedy: the path runs to the last `(` that a `)` follows, the args to the last `)`.
    f('a/60_x.sh(f(1),2)', 'a/60_x.sh(f', '1),2')
    f('a/60_x.sh(1)tail', 'a/60_x.sh', '1')
  })
})

describe('parsePluginArgs', () => {
  const f = (raw: string, want: string[]) => assert.deepEqual(parsePluginArgs(raw), want, raw)
  it('splits on commas and trims spaces, then double, then single quotes', () => {
    f('arg1,arg2', ['arg1', 'arg2'])
    f(' a , "b" ,\'c\'', ['a', 'b', 'c'])
    f('" \'x\' "', [" 'x' "])
    f(`' "y" '`, [' "y" '])
    f('a,,b', ['a', '', 'b'])
    f('single', ['single'])
  })
  it('joins across \\, as falcon does, quirks included', () => {
    f('x,a\\,b', ['x', 'a,b'])
    f('x,a\\,b,c', ['x', 'a,b', 'c'])
    f('x,a\\,b\\,c', ['x', 'a,b', 'c'])
    f('x,a\\,b,c\\,d', ['x', 'a,b', 'c,d'])
    // A group of one is never a tail, so the escape is lost; an empty last arg of a group vanishes.
    f('a\\,b', ['a', 'b'])
    f('a,\\,b', ['a', 'b'])
    f('a,b,', ['a', 'b'])
  })
})

describe('goExecError', () => {
  it('words failures as Go’s exec package', () => {
    assert.equal(goExecError({ code: 3, signal: null, error: undefined }), 'exit status 3')
    assert.equal(goExecError({ code: null, signal: 'SIGKILL', error: undefined }), 'signal: killed')
    assert.equal(
      goExecError({ code: null, signal: 'SIGUSR1', error: undefined }),
      'signal: SIGUSR1'
    )
    const e = Object.assign(new Error('spawn /p/x EACCES'), { code: 'EACCES', path: '/p/x' })
    assert.equal(
      goExecError({ code: null, signal: null, error: e }),
      'fork/exec /p/x: permission denied'
    )
  })
})

describe('resolvePlugins', () => {
  const dir = tempDir()
  script(dir, 'sys/ntp/60_ntp.sh', 'true')
  script(dir, 'sys/ntp/30_clock.sh', 'true')
  script(dir, 'sys/ntp/README', 'true')
  script(dir, 'sys/ntp/x_notcycle.sh', 'true')
  script(dir, 'sys/ntp/0_zero.sh', 'true')
  mkdirSync(join(dir, 'sys/ntp/60_subdir'))
  script(dir, 'net/120_ping.sh', 'true')
  script(dir, 'net/0_bad.sh', 'true')
  script(dir, 'net/nocycle.sh', 'true')
  script(dir, 'net/2147484_long.sh', 'true')
  script(dir, '300_top.sh', 'true')
  utimesSync(join(dir, 'sys/ntp/60_ntp.sh'), 1_600_000_000, 1_600_000_000.75)

  it('takes a directory’s <cycle>_<name> regular files, keyed by path', () => {
    const got = resolvePlugins(dir, ['sys/ntp'])
    assert.deepEqual([...got.keys()].sort(), ['sys/ntp/30_clock.sh', 'sys/ntp/60_ntp.sh'])
    assert.deepEqual(got.get('sys/ntp/60_ntp.sh')!.plugin, {
      FilePath: 'sys/ntp/60_ntp.sh',
      MTime: 1_600_000_000,
      Cycle: 60,
      Args: '',
    })
    assert.equal(got.get('sys/ntp/60_ntp.sh')!.mtimeMs, 1_600_000_000_750)
    // Slashes around a directory are cleaned; `.` is the plugin dir itself; '' and '/' list nothing.
    assert.deepEqual([...resolvePlugins(dir, ['/sys/ntp/']).keys()].sort(), [
      'sys/ntp/30_clock.sh',
      'sys/ntp/60_ntp.sh',
    ])
    assert.deepEqual([...resolvePlugins(dir, ['.']).keys()], ['300_top.sh'])
    assert.equal(resolvePlugins(dir, ['', '/']).size, 0)
  })

  it('keys a file bound alone path(args), and does not take it again from its directory', () => {
    const got = resolvePlugins(dir, ['sys/ntp', 'sys/ntp/60_ntp.sh(a,b)', 'net/120_ping.sh'])
    assert.deepEqual([...got.keys()].sort(), [
      'net/120_ping.sh()',
      'sys/ntp/30_clock.sh',
      'sys/ntp/60_ntp.sh(a,b)',
    ])
    assert.deepEqual(got.get('sys/ntp/60_ntp.sh(a,b)')!.plugin, {
      FilePath: 'sys/ntp/60_ntp.sh',
      MTime: 1_600_000_000,
      Cycle: 60,
      Args: 'a,b',
    })
    assert.equal(got.get('net/120_ping.sh()')!.plugin.Cycle, 120)
    // The same file bound with other args runs once per binding.
    const twice = resolvePlugins(dir, ['net/120_ping.sh(1)', 'net/120_ping.sh(2)'])
    assert.deepEqual([...twice.keys()], ['net/120_ping.sh(1)', 'net/120_ping.sh(2)'])
  })

  it('skips, and reports, missing entries and files without a positive cycle', () => {
    const warned: string[] = []
    const got = resolvePlugins(
      dir,
      ['nope', 'net/0_bad.sh', 'net/nocycle.sh', 'net/2147484_long.sh', 'net'],
      (entry, why) => void warned.push(`${entry}: ${why}`)
    )
    // A file that has no usable cycle is still "taken": the directory does not run it either.
    assert.deepEqual([...got.keys()], ['net/120_ping.sh'])
    assert.equal(warned.length, 4)
    assert.match(warned[0], /^nope: not found under /)
    assert.equal(warned[1], 'net/0_bad.sh: cycle 0 is not a number of seconds from 1 to 2147483')
    assert.equal(
      warned[2],
      'net/nocycle.sh: file name must start with the cycle in seconds, as in 60_name'
    )
    assert.equal(
      warned[3],
      'net/2147484_long.sh: cycle 2147484 is not a number of seconds from 1 to 2147483'
    )
  })
})

describe('runProcess', () => {
  it('collects output, exit code and stderr, and caps stderr', async () => {
    const dir = tempDir()
    const f = script(dir, 'p.sh', 'echo out "$1"; printf 0123456789 >&2; exit 4')
    const r = await runProcess(f, ['x y'], { timeout: 10_000, maxStdout: 100, maxStderr: 4 }).done
    assert.equal(r.stdout.toString(), 'out x y\n')
    assert.equal(r.stderr.toString(), '0123')
    assert.equal(r.code, 4)
    assert.equal(r.timedOut, false)
  })

  it('kills a child writing more than maxStdout', async () => {
    const dir = tempDir()
    const f = script(dir, 'p.sh', 'while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done')
    const r = await runProcess(f, [], { timeout: 60_000, maxStdout: 4096, maxStderr: 10 }).done
    assert.equal(r.overflow, true)
    assert.equal(r.timedOut, false)
  })

  it('reports a file that cannot start', async () => {
    const dir = tempDir()
    const r = await runProcess(join(dir, 'none'), [], {
      timeout: 1000,
      maxStdout: 10,
      maxStderr: 10,
    }).done
    assert.equal(r.error?.code, 'ENOENT')
    assert.equal(goExecError(r), `fork/exec ${join(dir, 'none')}: no such file or directory`)
  })
})

describe('PluginRunner runs plugins', { concurrency: true }, () => {
  it('pushes the items a plugin prints and ignores empty output', async () => {
    const dir = tempDir()
    const good = [item('plugin.a', 1.5), { ...item('plugin.b', 2), counterType: 'COUNTER' }]
    script(dir, 'sys/1_good.sh', printJson(good))
    script(dir, 'sys/1_empty.sh', 'true')
    script(dir, 'sys/1_blank.sh', 'echo')
    script(dir, 'sys/1_null.sh', 'echo null')
    const { runner, pushes, cap } = makeRunner(dir)
    try {
      runner.update(['sys'])
      assert.deepEqual(Object.keys(runner.list()).sort(), [
        'sys/1_blank.sh',
        'sys/1_empty.sh',
        'sys/1_good.sh',
        'sys/1_null.sh',
      ])
      await waitFor('two runs of each plugin', () => runner.stats.runs >= 8 && pushes.length >= 2)
      assert.deepEqual(pushes[0], good)
      assert.deepEqual(pushes[1], good)
      assert.deepEqual(cap.lines, [])
      assert.equal(runner.stats.badOutput, 0)
    } finally {
      await runner.stop()
    }
  })

  it('logs bad output naming the plugin, and pushes only the valid items', async () => {
    const dir = tempDir()
    script(dir, 'sys/1_notjson.sh', 'echo hello')
    script(dir, 'sys/1_object.sh', printJson({ metric: 'x' }))
    script(
      dir,
      'sys/1_mixed.sh',
      printJson([item('ok', 1), { ...item('bad', 2), counterType: 'gauge' }])
    )
    const { runner, pushes, cap } = makeRunner(dir)
    try {
      runner.update(['sys'])
      await waitFor('a complaint about each', () =>
        ['1_notjson', '1_object', '1_mixed'].every((p) => cap.has('error', p))
      )
      assert.ok(cap.has('error', 'plugin sys/1_notjson.sh(): stdout is not JSON'), 'not json')
      assert.ok(cap.has('error', '"hello\\n"'), 'quotes stdout')
      assert.ok(
        cap.has(
          'error',
          'plugin sys/1_object.sh(): stdout must be a JSON array of MetricValue, got "{\\"metric\\":\\"x\\"}\\n"'
        ),
        'object'
      )
      assert.ok(
        cap.has(
          'error',
          'plugin sys/1_mixed.sh(): 1 of 2 items refused: item 1: counterType: "gauge"'
        ),
        'mixed'
      )
      await waitFor('the valid item', () => pushes.length >= 1)
      assert.deepEqual(pushes[0], [item('ok', 1)])
      assert.ok(runner.stats.badOutput >= 2)
      assert.ok(runner.stats.refused >= 1)
    } finally {
      await runner.stop()
    }
  })

  it('kills a slow plugin and its process group at cycle*1000-500 ms; others keep running', async () => {
    const dir = tempDir()
    const pidFile = join(dir, 'sleep.pid')
    script(dir, 'sys/1_slow.sh', `sleep 30 &\necho $! > "${pidFile}"\nwait`)
    script(dir, 'fast/1_fast.sh', printJson([item('fast', 1)]))
    const { runner, pushes, cap } = makeRunner(dir)
    try {
      runner.update(['sys/1_slow.sh', 'fast'])
      await waitFor('the slow plugin killed', () =>
        cap.has(
          'warn',
          'plugin sys/1_slow.sh(): killed at its timeout of 500 ms (cycle 1 s - 500 ms)'
        )
      )
      const sleeper = Number(readFileSync(pidFile, 'utf8'))
      assert.ok(sleeper > 0)
      // The grandchild went with its group, not only the script.
      await waitFor('the sleep grandchild gone', () => gone(sleeper))
      const seen = pushes.length
      await waitFor('the fast plugin pushing on', () => pushes.length >= seen + 2)
      assert.ok(runner.stats.killed >= 1)
      assert.equal(cap.lines.filter((l) => l.level === 'error').length, 0)
    } finally {
      await runner.stop()
    }
  })

  it('drops the output of a failing plugin, logs why, and keeps its last stderr in a log file', async () => {
    const dir = tempDir()
    script(dir, 'sys/1_crash.sh', `${printJson([item('x', 1)])}\necho "boom $1 $2" >&2\nexit 3`)
    script(dir, 'sys/1_noexec.sh', 'true', 0o644)
    script(dir, 'sys/1_signal.sh', 'kill -9 $$')
    const { runner, pushes, cap, logs } = makeRunner(dir)
    try {
      runner.update(['sys/1_crash.sh(a,b c)', 'sys/1_noexec.sh', 'sys/1_signal.sh'])
      await waitFor(
        'two failed runs of each',
        () => cap.lines.filter((l) => l.message.includes('1_crash.sh')).length >= 2
      )
      assert.ok(cap.has('error', 'plugin sys/1_crash.sh(a,b c): exec failed: exit status 3'))
      await waitFor('the other failures', () => runner.stats.failed >= 4)
      assert.ok(
        cap.has(
          'error',
          `plugin sys/1_noexec.sh(): exec failed: fork/exec ${join(dir, 'sys/1_noexec.sh')}: permission denied`
        )
      )
      assert.ok(cap.has('error', 'plugin sys/1_signal.sh(): exec failed: signal: killed'))
      assert.equal(pushes.length, 0)
      // Rewritten by each run, as falcon does, so it holds one run's stderr.
      const logFile = join(logs, 'sys/1_crash.sh(a,b c).stderr.log')
      await waitFor('the stderr log', () => existsSync(logFile))
      assert.equal(readFileSync(logFile, 'utf8'), 'boom a b c\n')
      assert.equal(existsSync(join(logs, 'sys/1_signal.sh().stderr.log')), false)
    } finally {
      await runner.stop()
    }
  })

  it('restarts a plugin whose file changed', async () => {
    const dir = tempDir()
    const file = script(dir, 'sys/1_v.sh', printJson([item('v1', 1)]))
    const { runner, pushes } = makeRunner(dir)
    try {
      runner.update(['sys'])
      await waitFor('v1', () => pushes.some((p) => p[0].metric === 'v1'))
      const first = runner.list()['sys/1_v.sh'].MTime
      // A new inode, as an editor or git writes it, and a later mtime.
      script(dir, 'sys/1_v.sh.new', printJson([item('v2', 2)]))
      renameSync(`${file}.new`, file)
      utimesSync(file, first + 10, first + 10)
      runner.update(['sys'])
      assert.equal(runner.list()['sys/1_v.sh'].MTime, first + 10)
      const seen = pushes.length
      await waitFor('v2', () => pushes.slice(seen).some((p) => p[0].metric === 'v2'))
      assert.ok(pushes.slice(seen + 1).every((p) => p[0].metric === 'v2'))
    } finally {
      await runner.stop()
    }
  })

  it('stop() kills running plugins and drops their output', async () => {
    const dir = tempDir()
    const pidFile = join(dir, 'sleep.pid')
    script(
      dir,
      'sys/2_slow.sh',
      `${printJson([item('x', 1)])}\nsleep 30 &\necho $! > "${pidFile}"\nwait`
    )
    const { runner, pushes, cap } = makeRunner(dir)
    runner.update(['sys'])
    await waitFor(
      'the run under way',
      () => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== ''
    )
    const sleeper = Number(readFileSync(pidFile, 'utf8'))
    await runner.stop()
    await waitFor('the sleep grandchild gone', () => gone(sleeper))
    assert.deepEqual(runner.list(), {})
    assert.equal(pushes.length, 0)
    assert.deepEqual(cap.lines, [])
    runner.update(['sys'])
    assert.deepEqual(runner.list(), {})
  })
})

describe('PluginRunner schedules', () => {
  it('runs one cycle after binding, never twice at once, and not after unbinding', async (t) => {
    const dir = tempDir()
    const pidFile = join(dir, 'sleep.pid')
    script(dir, 'sys/2_slow.sh', `sleep 30 &\necho $! > "${pidFile}"\nwait`)
    const { runner, cap } = makeRunner(dir)
    t.mock.timers.enable({ apis: ['setInterval', 'setTimeout'] })
    try {
      runner.update(['sys'])
      t.mock.timers.tick(1999)
      assert.equal(runner.stats.runs, 0)
      t.mock.timers.tick(1)
      assert.equal(runner.stats.runs, 1)
      await waitFor('the run under way', () => existsSync(pidFile))
      // Past the kill at 3500 ms and the next tick at 4000 ms in one go: the killed run has not been
      // reaped yet when the tick comes, so the tick is skipped.
      t.mock.timers.tick(2000)
      assert.equal(runner.stats.runs, 1)
      assert.equal(runner.stats.skipped, 1)
      await waitFor('the kill logged', () => runner.stats.killed === 1)
      assert.ok(cap.has('warn', 'killed at its timeout of 1500 ms (cycle 2 s - 500 ms)'))
      t.mock.timers.tick(2000)
      assert.equal(runner.stats.runs, 2)
      runner.update([])
      assert.deepEqual(runner.list(), {})
      t.mock.timers.tick(60_000)
      assert.equal(runner.stats.runs, 2)
    } finally {
      t.mock.timers.reset()
      await runner.stop()
    }
  })

  it('logs a broken binding once, and again after it was fixed and broke again', () => {
    const dir = tempDir()
    const { runner, cap } = makeRunner(dir)
    runner.update(['sys/60_gone.sh'])
    runner.update(['sys/60_gone.sh'])
    assert.equal(cap.lines.length, 1)
    assert.match(cap.lines[0].message, /^agent: plugin sys\/60_gone.sh: not found under /)
    script(dir, 'sys/60_gone.sh', 'true')
    runner.update(['sys/60_gone.sh'])
    assert.deepEqual(Object.keys(runner.list()), ['sys/60_gone.sh()'])
    rmSync(join(dir, 'sys/60_gone.sh'))
    runner.update(['sys/60_gone.sh'])
    assert.equal(cap.lines.length, 2)
    assert.deepEqual(runner.list(), {})
    return runner.stop()
  })
})

describe('plugin git', () => {
  const run = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .toString()
      .trim()

  it('clones, pulls, resets and reports the version as falcon', async () => {
    const root = tempDir()
    const origin = join(root, 'origin')
    mkdirSync(origin)
    run(origin, 'init', '-q')
    writeFileSync(join(origin, '60_a.sh'), '#!/bin/sh\n')
    run(origin, 'add', '.')
    run(origin, 'commit', '-q', '-m', 'one')
    const dir = join(root, 'agent', 'plugin')

    assert.equal(await pluginVersion(false, dir), 'plugin not enabled')
    assert.equal(await pluginVersion(true, dir), 'plugin dir not existent')
    assert.equal(await pluginGitReset(dir), 'success')

    assert.equal(await pluginGitUpdate(dir, origin), 'success')
    assert.equal(readFileSync(join(dir, '60_a.sh'), 'utf8'), '#!/bin/sh\n')
    assert.equal(await pluginVersion(true, dir), run(origin, 'rev-parse', 'HEAD'))

    writeFileSync(join(origin, '60_b.sh'), '#!/bin/sh\n')
    run(origin, 'add', '.')
    run(origin, 'commit', '-q', '-m', 'two')
    const runner = new PluginRunner({
      dir,
      logs: root,
      push: () => undefined,
      log: captureLog().log,
    })
    assert.equal(await runner.gitUpdate(origin), 'success')
    assert.equal(await pluginVersion(true, dir), run(origin, 'rev-parse', 'HEAD'))

    writeFileSync(join(dir, '60_a.sh'), 'changed')
    assert.equal(await runner.gitReset(), 'success')
    assert.equal(readFileSync(join(dir, '60_a.sh'), 'utf8'), '#!/bin/sh\n')
  })

  it('clones into an existing empty directory', async () => {
    const root = tempDir()
    const origin = join(root, 'origin')
    mkdirSync(origin)
    run(origin, 'init', '-q')
    writeFileSync(join(origin, 'f'), 'x')
    run(origin, 'add', '.')
    run(origin, 'commit', '-q', '-m', 'one')
    const dir = join(root, 'plugin')
    mkdirSync(dir)
    assert.equal(await pluginGitUpdate(dir, origin), 'success')
    assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'x')
  })

  it('answers falcon’s failure texts', async () => {
    const root = tempDir()
    const dir = join(root, 'plugin')
    mkdirSync(dir)
    writeFileSync(join(dir, 'f'), 'x')
    assert.match(
      await pluginGitUpdate(dir, 'unused'),
      new RegExp(
        `^git pull in dir:${dir} fail\\. error: exit status 128 \\(fatal: not a git repository`
      )
    )
    assert.match(
      await pluginGitReset(dir),
      new RegExp(`^git reset --hard in dir:${dir} fail\\. error: exit status 128 \\(fatal: `)
    )
    assert.equal(await pluginVersion(true, dir), 'Error:exit status 128')
    const missing = join(root, 'other', 'plugin')
    assert.match(
      await pluginGitUpdate(missing, join(root, 'no-such-repo')),
      new RegExp(
        `^git clone in dir:${join(root, 'other')} fail\\. error: exit status 128 \\(fatal: `
      )
    )
  })
})
