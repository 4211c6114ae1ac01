import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CollectContext, NO_BUILTIN_ITEMS, gauge } from '../collector.js'
import { countProcs, parseProcTags, procSamples } from './procs.js'
import { FIXTURES } from './fixtures.js'

const PROC = join(FIXTURES, 'net-procs', 'proc')
const ctxOf = (proc: string, procs: string[]): CollectContext => ({
  proc,
  sys: '/sys',
  ifacePrefix: [],
  mountPoints: [],
  builtin: { ...NO_BUILTIN_ITEMS, procs },
  hostname: 'host',
  now: 0,
})

describe('parseProcTags', () => {
  it('keeps name= and cmdline= values trimmed, the last of each', () => {
    const f = (tags: string, name: string | undefined, cmdline: string | undefined) => {
      const m = parseProcTags(tags)
      assert.equal(m.tags, tags)
      assert.equal(m.name, name)
      assert.equal(m.cmdline?.toString(), cmdline)
    }
    f('name=nginx', 'nginx', undefined)
    f('cmdline= java -jar ', undefined, 'java -jar')
    f('name=a,cmdline=b', 'a', 'b')
    f('name=a,name=b', 'b', undefined)
    f('foo=bar', undefined, undefined)
    f(' name=x', undefined, undefined)
    f('name=x=y', 'x=y', undefined)
  })
})

describe('countProcs', () => {
  it('skips kernel threads, zombies (empty cmdline), pids without status, non-pids', () => {
    const m = (tags: string) => parseProcTags(tags)
    // every process: systemd, 3 nginx, java, tmux (not kthreadd, the zombie, pid 400 or sys/);
    // a '/' in the cmdline: systemd, the nginx master, java
    assert.deepEqual(countProcs(PROC, [m('name=x'), m('foo=bar'), m('cmdline=/')]), [0, 6, 3])
    // without a name matcher status is not read, so pid 400 (cmdline, no status) counts
    assert.deepEqual(countProcs(PROC, [m('cmdline=/usr/sbin/nginx')]), [2])
    assert.deepEqual(countProcs(PROC, [m('name=nginx,cmdline=/usr/sbin/nginx')]), [1])
    assert.equal(countProcs(join(PROC, 'no-such-dir'), [m('name=x')]), undefined)
  })

  it('matches the whole cmdline with NULs removed, by bytes', () => {
    const m = (tags: string) => parseProcTags(tags)
    assert.deepEqual(
      countProcs(PROC, [
        m('cmdline=/usr/lib/systemd/systemd--switched-root--system--deserialize21'),
        m('cmdline=/usr/bin/java-Xmx1g-jar/opt/app/app.jar'),
        m('cmdline=app.jar\0'),
        m('cmdline=tmux'),
      ]),
      [1, 1, 0, 1]
    )
  })

  it('reads a cmdline of any length', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-procs-'))
    try {
      mkdirSync(join(dir, '7'))
      writeFileSync(join(dir, '7', 'status'), 'Name:\tjava\nState:\tS (sleeping)\n')
      const classpath = Array.from({ length: 20_000 }, (_, i) => `/opt/lib/dep-${i}.jar`).join(':')
      writeFileSync(join(dir, '7', 'cmdline'), `java\0-cp\0${classpath}\0com.example.Main\0`)
      const m = (tags: string) => parseProcTags(tags)
      assert.deepEqual(
        countProcs(dir, [m('name=java,cmdline=dep-19999.jarcom.example.Main'), m('cmdline=Nope')]),
        [1, 0]
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('procSamples', () => {
  it('counts exact names and cmdline substrings (NULs removed, not spaces)', () => {
    const items = [
      'name=nginx',
      'cmdline=worker process',
      'name=nginx,cmdline=master',
      'cmdline=-jar/opt/app',
      'cmdline=-jar /opt/app',
      'name=ngin',
      'name=kthreadd',
      'name=sleep',
      'name=tmux: server',
      'name= nginx ',
      'foo=bar',
      'cmdline=',
      'name=nginx',
    ]
    assert.deepEqual(procSamples(ctxOf(PROC, items)), [
      gauge('proc.num', 3, 'name=nginx'),
      gauge('proc.num', 2, 'cmdline=worker process'),
      gauge('proc.num', 1, 'name=nginx,cmdline=master'),
      gauge('proc.num', 1, 'cmdline=-jar/opt/app'),
      gauge('proc.num', 0, 'cmdline=-jar /opt/app'),
      gauge('proc.num', 0, 'name=ngin'),
      gauge('proc.num', 0, 'name=kthreadd'),
      gauge('proc.num', 0, 'name=sleep'),
      gauge('proc.num', 1, 'name=tmux: server'),
      gauge('proc.num', 3, 'name= nginx '),
      // neither name nor cmdline: every process counts, as in falcon
      gauge('proc.num', 6, 'foo=bar'),
      gauge('proc.num', 6, 'cmdline='),
    ])
  })

  it('nothing asked, nothing read; an unreadable /proc reports nothing', () => {
    assert.deepEqual(procSamples(ctxOf(PROC, [])), [])
    assert.deepEqual(procSamples(ctxOf(join(PROC, 'nope'), ['name=nginx'])), [])
  })

  it('live: finds this test process by its name and by its command line', () => {
    const name = readFileSync('/proc/self/status', 'utf8').split('\n')[0].slice(5).trim()
    const cmdline = readFileSync('/proc/self/cmdline')
      .filter((b) => b !== 0)
      .toString()
    const tail = cmdline.slice(-30)
    const [byName, byBoth, none] = procSamples(
      ctxOf('/proc', [`name=${name}`, `name=${name},cmdline=${tail}`, 'name=no-such-process-x'])
    )
    assert.equal(byName.metric, 'proc.num')
    assert.equal(byName.tags, `name=${name}`)
    assert.ok(byName.value >= 1, `name=${name}: ${byName.value}`)
    assert.ok(byBoth.value >= 1 && byBoth.value <= byName.value, `cmdline ${tail}: ${byBoth.value}`)
    assert.equal(none.value, 0)
    const [byCmdline] = countProcs('/proc', [parseProcTags(`cmdline=${tail}`)]) ?? []
    assert.ok(byCmdline >= byBoth.value)
  })
})
