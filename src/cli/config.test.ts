import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseStoreUrl } from '../store/index.js'
import { COMPONENTS, goDsnToUrl, readConfigFile, resolveConfigs } from './config.js'

describe('goDsnToUrl', () => {
  it("maps falcon's DSNs, with Go's default address where one is left out", () => {
    const cases: [string, string][] = [
      [
        'root:@tcp(127.0.0.1:3306)/falcon_portal?charset=utf8&loc=Asia%2FShanghai',
        'mysql://root@127.0.0.1:3306/falcon_portal',
      ],
      ['falcon:p@ss/w@tcp(db:3307)/uic', 'mysql://falcon:p%40ss%2Fw@db:3307/uic'],
      ['root:@/falcon_portal?charset=utf8', 'mysql://root@127.0.0.1:3306/falcon_portal'],
      ['root:pw@tcp()/falcon_portal', 'mysql://root:pw@127.0.0.1:3306/falcon_portal'],
      ['root@tcp(:3307)/falcon_portal', 'mysql://root@127.0.0.1:3307/falcon_portal'],
      ['mysql://root@db/falcon_portal', 'mysql://root@db/falcon_portal'],
    ]
    for (const [dsn, url] of cases) {
      assert.equal(goDsnToUrl(dsn), url, dsn)
      assert.equal(parseStoreUrl(url).engine, 'mysql')
    }
    assert.equal(
      (parseStoreUrl(goDsnToUrl(cases[1][0])) as { password: string }).password,
      'p@ss/w'
    )
  })

  it('refuses a DSN it cannot use, naming the key, never showing the password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
    try {
      for (const database of [
        'root:s3cret@unix(/run/mysqld/mysqld.sock)/falcon_portal',
        'root:s3cret@tcp(db:3306)',
      ]) {
        const file = join(dir, 'cfg.json')
        writeFileSync(file, JSON.stringify({ listen: ':6030', database }))
        await assert.rejects(
          async () => resolveConfigs(readConfigFile(file).raw, ['hbs']),
          (err: Error) =>
            /^(database: only tcp|hbs\.store: expected)/.test(err.message) &&
            !err.message.includes('s3cret'),
          database
        )
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('falcon cfg.json', () => {
  it("makes the portal DSN of an api or hbs cfg.json every component's store", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'))
    try {
      const portal = 'mysql://falcon:pw@db:3306/falcon_portal'
      const files = {
        'api.json': {
          web_port: ':8080',
          db: { falcon_portal: 'falcon:pw@tcp(db:3306)/falcon_portal?charset=utf8' },
        },
        'hbs.json': { listen: ':6030', database: 'falcon:pw@tcp(db:3306)/falcon_portal' },
      }
      for (const [name, cfg] of Object.entries(files)) {
        const file = join(dir, name)
        writeFileSync(file, JSON.stringify(cfg))
        const configs = await resolveConfigs(readConfigFile(file).raw, COMPONENTS, dir)
        assert.equal(configs.api?.store, portal, name)
        assert.equal(configs.hbs?.store, portal, name)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
