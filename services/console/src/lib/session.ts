// The signed-in person: tokens, account and the active grant, kept in
// localStorage so that a reload keeps the session. A bare access token (the
// local stack's `stack token ROLE`) is accepted too: its claims become the grant.
import { reactive } from 'vue'

export type Role = 'admin' | 'coordinator' | 'notable' | 'handler' | 'supervisor' | 'planner'

export interface Grant {
  id?: string
  role: Role
  regions: string[]
  unit: string | null
  notable_id: string | null
}

export interface Account {
  id: string
  name: string
  phone: string
}

export interface Session {
  access_token: string
  refresh_token?: string
  expires_at?: number // ms since the epoch
  account?: Account
  grant: Grant
  grants: Grant[]
}

export interface TokenAnswer {
  access_token: string
  token_type?: string
  expires_in?: number
  refresh_token?: string
  account?: Account
  grant?: Grant
  grants?: Grant[]
}

const KEY = 'shantang.session'

export const ROLE_NAMES: Record<Role, string> = {
  admin: '管理员',
  coordinator: '村协调员',
  notable: '乡贤',
  handler: '承办单位',
  supervisor: '督查',
  planner: '规划统计',
}

export function jwtClaims(token: string): Record<string, unknown> {
  try {
    const part = token.split('.')[1] ?? ''
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/')
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0))
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>
  } catch {
    return {}
  }
}

function grantFromClaims(c: Record<string, unknown>): Grant {
  const role = (typeof c.role === 'string' ? c.role : 'planner') as Role
  return {
    id: typeof c.grant === 'string' ? c.grant : undefined,
    role,
    regions: Array.isArray(c.regions) ? (c.regions as string[]) : [],
    unit: typeof c.unit === 'string' ? c.unit : null,
    notable_id:
      typeof c.notable_id === 'string' ? c.notable_id : role === 'notable' && typeof c.sub === 'string' ? c.sub : null,
  }
}

function normalise(raw: Partial<Session> & { access_token: string }): Session {
  const claims = jwtClaims(raw.access_token)
  const grant = raw.grant ?? grantFromClaims(claims)
  grant.regions = grant.regions ?? []
  grant.unit = grant.unit ?? null
  grant.notable_id = grant.notable_id ?? null
  const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined
  return {
    access_token: raw.access_token,
    refresh_token: raw.refresh_token,
    expires_at: raw.expires_at ?? exp,
    account: raw.account,
    grant,
    grants: raw.grants && raw.grants.length ? raw.grants : [grant],
  }
}

function load(): Session | null {
  try {
    const s = localStorage.getItem(KEY)
    if (!s) return null
    const raw = JSON.parse(s) as Partial<Session>
    if (!raw || typeof raw.access_token !== 'string') return null
    return normalise(raw as Session)
  } catch {
    return null
  }
}

export const state = reactive<{ session: Session | null }>({ session: load() })

export function setSession(answer: TokenAnswer): Session {
  const s = normalise({
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    expires_at: answer.expires_in ? Date.now() + answer.expires_in * 1000 : undefined,
    account: answer.account,
    grant: answer.grant,
    grants: answer.grants ?? [],
  })
  state.session = s
  localStorage.setItem(KEY, JSON.stringify(s))
  return s
}

export function clearSession(): void {
  state.session = null
  localStorage.removeItem(KEY)
}

export function role(): Role | null {
  return state.session?.grant.role ?? null
}

export function homeOf(r: Role | null): string {
  switch (r) {
    case 'planner':
      return '/dashboard'
    case 'coordinator':
      return '/households'
    case 'notable':
      return '/proposals'
    case 'handler':
      return '/queue'
    case 'supervisor':
      return '/supervise'
    case 'admin':
      return '/admin/accounts'
    default:
      return '/signin'
  }
}

export const unitNames: Record<string, string> = reactive({})

export function grantLabel(g: Grant, names?: (code: string) => string): string {
  const parts: string[] = [ROLE_NAMES[g.role] ?? g.role]
  if (g.regions.length) parts.push(g.regions.map((c) => (names ? names(c) : c)).join('、'))
  if (g.unit) parts.push(unitNames[g.unit] ?? g.unit)
  return parts.join(' · ')
}
