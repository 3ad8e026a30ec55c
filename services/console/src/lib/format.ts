// zh-CN formatting: yuan with thousands separators from integer fen, mu with
// two decimals from hundredths, dates and times in Asia/Shanghai.
const yuanFmt = new Intl.NumberFormat('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
const intFmt = new Intl.NumberFormat('zh-CN', { maximumFractionDigits: 0 })
const dateFmt = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' })
const timeFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
})

/** 123456 fen → "1,234.56" (exact: integer arithmetic, no floating yuan). */
export function yuan(fen: number | null | undefined): string {
  if (fen === null || fen === undefined || Number.isNaN(fen)) return '—'
  const neg = fen < 0
  const a = Math.abs(Math.trunc(fen))
  const whole = Math.floor(a / 100)
  const cents = a % 100
  return (neg ? '-' : '') + intFmt.format(whole) + '.' + String(cents).padStart(2, '0')
}

/** Yuan as a chart value (a number; only for drawing). */
export function yuanValue(fen: number): number {
  return fen / 100
}

/** Large amounts in 万元 for the cards' second line and chart axes. */
export function wan(fen: number | null | undefined): string {
  if (fen === null || fen === undefined) return '—'
  return yuanFmt.format(fen / 1_000_000) + ' 万元'
}

export function int(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—'
  return intFmt.format(n)
}

/** 1750 hundredths of a mu → "17.50". */
export function mu(x100: number | null | undefined): string {
  if (x100 === null || x100 === undefined) return '—'
  const a = Math.abs(x100)
  return (x100 < 0 ? '-' : '') + intFmt.format(Math.floor(a / 100)) + '.' + String(a % 100).padStart(2, '0')
}

export function pct(r: number | null | undefined): string {
  if (r === null || r === undefined) return '—'
  return (Math.round(r * 1000) / 10).toFixed(1) + '%'
}

export function date(s: string | null | undefined): string {
  if (!s) return '—'
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return s.replace(/^(\d{4})-(\d{2})-(\d{2})$/, '$1年$2月$3日')
  const d = new Date(s)
  return Number.isNaN(d.getTime()) ? s : dateFmt.format(d)
}

export function dateTime(s: string | null | undefined): string {
  if (!s) return '—'
  const d = new Date(s)
  return Number.isNaN(d.getTime()) ? s : timeFmt.format(d)
}

/** Today in Asia/Shanghai as YYYY-MM-DD. */
export function today(): string {
  const p = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' })
  return p.format(new Date())
}

export function thisYear(): number {
  return Number(today().slice(0, 4))
}

/** "1,234.56" or "1234.5" typed by a person → fen; null when it is not an amount. */
export function parseYuan(s: string): number | null {
  const t = s.replace(/[,，\s]/g, '')
  if (!/^\d+(\.\d{1,2})?$/.test(t)) return null
  const [w, f = ''] = t.split('.')
  return Number(w) * 100 + Number((f + '00').slice(0, 2))
}

/** "17.5" mu → 1750 hundredths. */
export function parseMu(s: string): number | null {
  const t = s.replace(/\s/g, '')
  if (!/^\d+(\.\d{1,2})?$/.test(t)) return null
  const [w, f = ''] = t.split('.')
  return Number(w) * 100 + Number((f + '00').slice(0, 2))
}

export const KIND_NAMES: Record<string, string> = {
  project_revenue: '项目收入',
  wage: '工资',
  land_rent: '土地租金',
  dividend: '分红',
  sales: '销售',
  collective: '村集体收入',
}

export const ENROLL_KINDS: Record<string, string> = {
  employment: '就业',
  land_transfer: '土地流转',
  share: '入股分红',
  supply: '供货',
  training: '培训',
}

export const CATEGORY_NAMES: Record<string, string> = {
  助农: '助农',
  助学: '助学',
  助医: '助医',
  助困: '助困',
  industry: '产业发展',
  infrastructure: '基础设施',
  other: '其他',
}

export const STATE_NAMES: Record<string, string> = {
  submitted: '已提交',
  accepted: '已受理',
  rejected: '未采纳',
  assigned: '已交办',
  in_progress: '办理中',
  resolved: '已办结',
  closed: '已关闭',
}

export const SIDE_NAMES: Record<string, string> = { zhejiang: '浙江', shanghai: '上海', other: '其他' }

export const LEVEL_NAMES: Record<string, string> = { village: '村级', town: '镇级', county: '县级' }

export const ACTION_NAMES: Record<string, string> = {
  submit: '提交',
  accept: '受理',
  reject: '不予采纳',
  assign: '交办',
  progress: '进展',
  resolve: '办结',
  feedback: '评价',
  close: '关闭',
  reopen: '重新办理',
  overdue: '逾期',
  escalate: '升级督办',
  escalated: '升级督办',
}

/** A phone shown masked: 139****0001. */
export function maskPhone(p: string | null | undefined): string {
  if (!p) return '—'
  return p.length >= 11 ? p.slice(0, 3) + '****' + p.slice(-4) : p
}

export function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v)
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s
}

/** A CSV file as a spreadsheet opens it: UTF-8 with a BOM. */
export function csvBlob(rows: unknown[][]): Blob {
  return new Blob(['\ufeff' + rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n'], {
    type: 'text/csv;charset=utf-8',
  })
}
