// The registry's regions, read once per session: names for codes, and the
// drill-down tree both sides → side → county → town → village (the city
// level is stepped over, as the planners' views do).
import { reactive } from 'vue'
import { call } from './api'

export interface Region {
  code: string
  name: string
  level: 'province' | 'city' | 'county' | 'town' | 'village'
  parent: string | null
  side: string
}

export const regions = reactive<{ list: Region[]; byCode: Record<string, Region>; loaded: boolean }>({
  list: [],
  byCode: {},
  loaded: false,
})

let pending: Promise<void> | null = null

export function loadRegions(): Promise<void> {
  if (regions.loaded) return Promise.resolve()
  if (pending) return pending
  pending = (async () => {
    const all: Region[] = []
    let cursor: string | null = null
    do {
      const page: { items: Region[]; next: string | null } = await call('registry', '/v1/regions', {
        query: { limit: 1000, cursor },
      })
      all.push(...page.items)
      cursor = page.next
    } while (cursor)
    regions.list = all
    regions.byCode = Object.fromEntries(all.map((r) => [r.code, r]))
    regions.loaded = true
  })().finally(() => {
    pending = null
  })
  return pending
}

export function regionName(code: string): string {
  if (code === 'all') return '浙沪两地'
  return regions.byCode[code]?.name ?? code
}

/** The full name of a village: 广陈镇山塘村. */
export function villageLabel(code: string): string {
  const v = regions.byCode[code]
  if (!v) return code
  const t = v.parent ? regions.byCode[v.parent] : undefined
  return (t ? t.name : '') + v.name
}

/** The next level down in the drill: for 'all' the two provinces. */
export function childrenOf(code: string): Region[] {
  if (code === 'all') return regions.list.filter((r) => r.level === 'province')
  const me = regions.byCode[code]
  if (!me) return []
  const direct = regions.list.filter((r) => r.parent === code)
  if (me.level === 'province') return direct.flatMap((c) => (c.level === 'city' ? regions.list.filter((r) => r.parent === c.code) : [c]))
  return direct
}

/** The path from 'all' down to code, skipping cities. */
export function pathTo(code: string): string[] {
  const out: string[] = []
  let r = regions.byCode[code]
  while (r) {
    if (r.level !== 'city') out.unshift(r.code)
    r = r.parent ? regions.byCode[r.parent] : (undefined as unknown as Region)
  }
  return ['all', ...out]
}

/** Villages under a region (itself when it is one). */
export function villagesUnder(code: string): Region[] {
  if (code === 'all') return regions.list.filter((r) => r.level === 'village')
  const out: Region[] = []
  const walk = (c: string) => {
    const r = regions.byCode[c]
    if (!r) return
    if (r.level === 'village') out.push(r)
    for (const k of regions.list) if (k.parent === c) walk(k.code)
  }
  walk(code)
  return out
}

export function villages(): Region[] {
  return regions.list.filter((r) => r.level === 'village')
}
