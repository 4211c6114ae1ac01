// The agent's own web page at `/` (falcon-agent serves a linux-dash page there): the host facts and
// tables of /page/* and /proc/*, refreshed every 10 s. Self-contained: no assets, no network beyond
// this agent, so it works on a host with no internet access.
export const AGENT_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Peregrine agent</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f4f6f8; }
  header { background: #1d2430; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 16px; }
  section { background: #fff; border-radius: 6px; padding: 12px 16px; box-shadow: 0 1px 2px #0002; overflow-x: auto; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e3e7ec; white-space: nowrap; }
  .err { color: #b3261e; }
</style>
</head>
<body>
<header><h1>Peregrine agent</h1><span id="host"></span><span id="date"></span></header>
<main>
  <section><h2>General</h2><table id="general"></table></section>
  <section><h2>Load average</h2><table id="load"></table></section>
  <section><h2>Memory</h2><table id="memory"></table></section>
  <section><h2>CPU usage (%)</h2><table id="cpu"></table></section>
  <section><h2>Disk</h2><table id="df"></table></section>
  <section><h2>Disk IO</h2><table id="diskio"></table></section>
</main>
<script>
  const get = async (path) => {
    const r = await fetch(path)
    const body = await r.json()
    if (body.msg !== 'success') throw new Error(body.msg)
    return body.data
  }
  const cell = (v) => {
    const td = document.createElement('td')
    td.textContent = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)
    return td
  }
  // Renders what a route answers: rows of arrays, one array, objects, or one value.
  const render = (id, data, head) => {
    const table = document.getElementById(id)
    table.replaceChildren()
    if (head) {
      const tr = document.createElement('tr')
      for (const h of head) { const th = document.createElement('th'); th.textContent = h; tr.append(th) }
      table.append(tr)
    }
    const rows = Array.isArray(data) ? (data.length > 0 && Array.isArray(data[0]) ? data : [data]) : null
    if (rows) for (const row of rows) { const tr = document.createElement('tr'); for (const v of row) tr.append(cell(v)); table.append(tr) }
    else if (data !== null && typeof data === 'object') {
      for (const [k, v] of Object.entries(data)) { const tr = document.createElement('tr'); tr.append(cell(k), cell(v)); table.append(tr) }
    } else { const tr = document.createElement('tr'); tr.append(cell(data)); table.append(tr) }
  }
  const show = async (id, path, head) => {
    try { render(id, await get(path), head) }
    catch (err) { const t = document.getElementById(id); t.innerHTML = ''; const tr = document.createElement('tr'); const td = cell(path + ': ' + err.message); td.className = 'err'; tr.append(td); t.append(tr) }
  }
  const general = async () => {
    const facts = {}
    for (const [k, p] of [['hostname', 'proc/kernel/hostname'], ['kernel', 'proc/kernel/version'], ['cpus', 'proc/cpu/num'], ['cpu MHz', 'proc/cpu/mhz'], ['uptime', 'page/system/uptime'], ['max files', 'proc/kernel/maxfiles'], ['max processes', 'proc/kernel/maxproc']]) {
      try { facts[k] = await get(p) } catch (err) { facts[k] = err.message }
    }
    render('general', facts)
    document.getElementById('host').textContent = String(facts.hostname)
  }
  const refresh = async () => {
    try { document.getElementById('date').textContent = await get('system/date') } catch {}
    await Promise.all([
      general(),
      show('load', 'page/system/loadavg'),
      show('memory', 'page/memory', ['total', 'used', 'free']),
      show('cpu', 'page/cpu/usage'),
      show('df', 'page/df'),
      show('diskio', 'page/diskio'),
    ])
  }
  refresh()
  setInterval(refresh, 10000)
</script>
</body>
</html>
`
