//! `seed`: a helpdesk-sized database, fast. N tickets and M messages over a
//! year, with agents, customers, internal notes and every state, written
//! with bulk SQL straight into a database the server's own migrations made
//! (`soporte migrate`). It is not the product path: no rule runs, no event is
//! queued; the rows are those the server would have left, so every read
//! (inbox, lists, search, history, stats) meets a store of that size.

use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// `sqlite://PATH` or `postgres://…` of an empty (or new) database.
    #[arg(long)]
    pub database_url: String,
    #[arg(long, default_value_t = 1_000_000)]
    pub tickets: usize,
    #[arg(long, default_value_t = 10_000_000)]
    pub messages: usize,
    #[arg(long, default_value_t = 50)]
    pub agents: usize,
    #[arg(long, default_value_t = 200_000)]
    pub customers: usize,
    /// PostgreSQL: seed into this schema, made anew (what was in it goes).
    #[arg(long)]
    pub schema: Option<String>,
}

/// The database URL, pointed at `schema` when one is given (PostgreSQL).
pub fn in_schema(url: &str, schema: Option<&str>) -> String {
    match schema {
        None => url.to_string(),
        Some(schema) => {
            let joiner = if url.contains('?') { '&' } else { '?' };
            format!("{url}{joiner}options=-c%20search_path%3D{schema}")
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub tickets: usize,
    pub messages: usize,
    pub seconds: f64,
}

/// The seeded people: agents `1..=agents`, this supervisor, customers from
/// `FIRST_CUSTOMER`.
pub const SUPERVISOR: i64 = 900;
pub const FIRST_CUSTOMER: i64 = 1_000;
const DAY_MS: i64 = 86_400_000;

/// Words of support conversations, the most frequent first (picked with a
/// skew towards the start, as real text is).
pub const WORDS: &[&str] = &[
    "hola",
    "gracias",
    "pedido",
    "cuenta",
    "factura",
    "problema",
    "ayuda",
    "correo",
    "pago",
    "envío",
    "contraseña",
    "acceso",
    "tarjeta",
    "devolución",
    "reembolso",
    "producto",
    "error",
    "pantalla",
    "aplicación",
    "número",
    "dirección",
    "cambio",
    "entrega",
    "retraso",
    "cliente",
    "suscripción",
    "plan",
    "precio",
    "descuento",
    "cupón",
    "renovación",
    "cancelación",
    "transferencia",
    "banco",
    "recibo",
    "importe",
    "cargo",
    "duplicado",
    "mensaje",
    "código",
    "verificación",
    "teléfono",
    "móvil",
    "navegador",
    "instalación",
    "actualización",
    "versión",
    "contrato",
    "garantía",
    "reparación",
    "técnico",
    "cita",
    "horario",
    "sucursal",
    "almacén",
    "paquete",
    "mensajero",
    "seguimiento",
    "etiqueta",
    "talla",
    "color",
    "stock",
    "reserva",
    "billete",
    "vuelo",
    "equipaje",
    "asiento",
    "hotel",
    "habitación",
    "llave",
    "wifi",
    "router",
    "conexión",
    "velocidad",
    "fibra",
    "instalador",
    "avería",
    "incidencia",
    "urgente",
    "mañana",
    "semana",
    "ayer",
    "hoy",
    "tarde",
    "noche",
    "lunes",
    "viernes",
    "nómina",
    "empresa",
    "usuario",
    "perfil",
    "foto",
    "documento",
    "archivo",
    "adjunto",
    "formulario",
    "registro",
    "sesión",
    "bloqueo",
    "seguridad",
    "fraude",
    "robo",
    "denuncia",
    "queja",
    "reclamación",
    "valoración",
    "encuesta",
    "oferta",
    "promoción",
    "regalo",
    "tienda",
    "carrito",
    "checkout",
    "iva",
    "impuesto",
    "aduana",
    "internacional",
    "portugal",
    "méxico",
    "argentina",
    "colombia",
    "chile",
    "perú",
    "madrid",
    "barcelona",
    "sevilla",
    "valencia",
    "bilbao",
    "zaragoza",
];
const FIRST_NAMES: &[&str] = &[
    "Lucía",
    "Martín",
    "Sofía",
    "Hugo",
    "Martina",
    "Mateo",
    "Julia",
    "Leo",
    "Paula",
    "Daniel",
    "Valeria",
    "Alejandro",
    "Emma",
    "Pablo",
    "Daniela",
    "Manuel",
    "Alba",
    "Álvaro",
    "Carla",
    "Adrián",
    "Sara",
    "Mario",
    "Noa",
    "Diego",
    "Carmen",
    "Javier",
    "Elena",
    "Marcos",
    "Irene",
    "Iker",
    "Laura",
    "Bruno",
    "Claudia",
    "Enzo",
    "Vega",
    "Gael",
    "Olivia",
    "Thiago",
    "Aitana",
    "Nicolás",
];
pub const LAST_NAMES: &[&str] = &[
    "García",
    "Rodríguez",
    "González",
    "Fernández",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Álvarez",
    "Romero",
    "Alonso",
    "Gutiérrez",
    "Navarro",
    "Torres",
    "Domínguez",
    "Vázquez",
    "Ramos",
    "Gil",
    "Ramírez",
    "Serrano",
    "Blanco",
    "Molina",
    "Morales",
    "Suárez",
    "Ortega",
    "Delgado",
    "Castro",
    "Ortiz",
    "Rubio",
    "Marín",
    "Sanz",
    "Núñez",
];
const SUBJECTS: &[&str] = &[
    "No puedo entrar en mi cuenta",
    "Factura duplicada",
    "Mi pedido no ha llegado",
    "Quiero cancelar la suscripción",
    "Cambio de dirección de envío",
    "Error al pagar con tarjeta",
    "Solicitud de reembolso",
    "El producto llegó dañado",
    "Problema con la contraseña",
    "Duda sobre el precio",
    "No recibo el correo de verificación",
    "La aplicación se cierra",
    "Cambio de plan",
    "Consulta sobre la garantía",
    "Retraso en la entrega",
];

/// A small, fast, deterministic generator (xorshift64*): the same seed gives
/// the same database.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Skewed to the start: index `i` is picked about as often as real
    /// text uses its `i`-th most common word.
    pub fn skewed(&mut self, n: usize) -> usize {
        let (a, b) = (self.below(n), self.below(n));
        a * b / n.max(1)
    }
}

pub fn customer_name(id: i64) -> String {
    let n = (id - FIRST_CUSTOMER).max(0) as usize;
    let first = FIRST_NAMES[n % FIRST_NAMES.len()];
    let last = LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()];
    format!("{first} {last}")
}

/// An order number as messages and subjects mention them.
pub fn order_number(rng: &mut Rng) -> u32 {
    100_000 + rng.below(900_000) as u32
}

fn text(rng: &mut Rng) -> String {
    let words = 6 + rng.below(9);
    let mut out = String::with_capacity(words * 9 + 16);
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[rng.skewed(WORDS.len())]);
    }
    if rng.below(10) == 0 {
        out.push_str(&format!(" pedido {}", order_number(rng)));
    }
    out
}

/// One seeded ticket with its messages.
pub struct SeedTicket {
    pub id: i64,
    pub subject: String,
    pub state: &'static str,
    pub customer: i64,
    pub agent: Option<i64>,
    pub created: i64,
    pub updated: i64,
    pub public_seq: i64,
    pub public_updated: i64,
    pub first_answer: Option<i64>,
    pub resolved: Option<i64>,
    pub messages: Vec<SeedMessage>,
}

pub struct SeedMessage {
    pub seq: i64,
    pub author: i64,
    pub author_name: String,
    pub author_kind: &'static str,
    pub content: String,
    pub internal: bool,
    pub at: i64,
}

/// The tickets, oldest first, spread over the year before `now`: the newest
/// open (a third of those still in the queue) or waiting, then resolved,
/// the rest closed.
pub struct Generator {
    rng: Rng,
    options: Options,
    now: i64,
    next: usize,
}

impl Generator {
    pub fn new(options: &Options, now: i64) -> Generator {
        Generator {
            rng: Rng::new(0x5eed),
            options: options.clone(),
            now,
            next: 0,
        }
    }
}

impl Iterator for Generator {
    type Item = SeedTicket;

    fn next(&mut self) -> Option<SeedTicket> {
        let o = &self.options;
        let i = self.next;
        if i >= o.tickets {
            return None;
        }
        self.next += 1;
        let rng = &mut self.rng;
        let id = i as i64 + 1;
        let year = 365 * DAY_MS;
        let created = self.now - year + (i as i64 * year / o.tickets as i64);
        // The newest 3% open, the next 2% waiting, 5% resolved, the rest closed.
        let age = (o.tickets - i) as f64 / o.tickets as f64;
        let state = match age {
            a if a <= 0.03 => "ABIERTO",
            a if a <= 0.05 => "EN_ESPERA",
            a if a <= 0.10 => "RESUELTO",
            _ => "CERRADO",
        };
        let queued = state == "ABIERTO" && rng.below(3) == 0;
        let agent = (!queued).then(|| 1 + rng.below(o.agents) as i64);
        let customer = FIRST_CUSTOMER + rng.below(o.customers) as i64;
        let count = o.messages / o.tickets + usize::from(i < o.messages % o.tickets);
        let mut messages = Vec::with_capacity(count);
        let mut at = created;
        let (mut first_answer, mut public) = (None, (0, created));
        for seq in 1..=count as i64 {
            at += 1_000 + rng.below(600_000) as i64;
            let by_agent = agent.is_some() && seq % 2 == 0;
            let internal = by_agent && rng.below(30) == 0;
            let (author, author_name, author_kind) = match (by_agent, agent) {
                (true, Some(a)) => (a, format!("Agente {a}"), "AGENTE"),
                _ => (customer, customer_name(customer), "CLIENTE"),
            };
            if by_agent && !internal && first_answer.is_none() {
                first_answer = Some(at);
            }
            if !internal {
                public = (seq, at);
            }
            messages.push(SeedMessage {
                seq,
                author,
                author_name,
                author_kind,
                content: text(rng),
                internal,
                at,
            });
        }
        let subject = match rng.below(4) {
            0 => format!(
                "{} (pedido {})",
                SUBJECTS[rng.below(SUBJECTS.len())],
                order_number(rng)
            ),
            _ => SUBJECTS[rng.below(SUBJECTS.len())].to_string(),
        };
        Some(SeedTicket {
            id,
            subject,
            state,
            customer,
            agent,
            created,
            updated: at,
            public_seq: public.0,
            public_updated: public.1,
            first_answer,
            resolved: matches!(state, "RESUELTO" | "CERRADO").then_some(at),
            messages,
        })
    }
}

/// Seeds the database: migrations by the server binary, then the rows.
pub async fn run(server_bin: &Path, options: &Options) -> Result<Report, String> {
    if let Some(schema) = &options.schema {
        crate::seed_postgres::new_schema(&options.database_url, schema).await?;
    }
    let url = in_schema(&options.database_url, options.schema.as_deref());
    let migrated = tokio::process::Command::new(server_bin)
        .args(["migrate", "--database-url", &url])
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", server_bin.display()))?;
    if !migrated.status.success() {
        return Err(format!(
            "migrations failed: {}",
            String::from_utf8_lossy(&migrated.stderr)
        ));
    }
    let started = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as i64;
    if let Some(path) = url.strip_prefix("sqlite://") {
        let (path, options) = (path.to_string(), options.clone());
        tokio::task::spawn_blocking(move || {
            crate::seed_sqlite::load(Path::new(&path), &options, now)
        })
        .await
        .map_err(|e| e.to_string())??;
    } else {
        crate::seed_postgres::load(&url, options, now).await?;
    }
    Ok(Report {
        scenario: "seed",
        tickets: options.tickets,
        messages: options.messages,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The people rows: (id, name, role).
pub fn people(options: &Options) -> impl Iterator<Item = (i64, String, &'static str)> + '_ {
    let agents = (1..=options.agents as i64).map(|a| (a, format!("Agente {a}"), "AGENTE"));
    let supervisor = std::iter::once((SUPERVISOR, "Supervisora".to_string(), "SUPERVISOR"));
    let customers = (0..options.customers as i64)
        .map(|n| FIRST_CUSTOMER + n)
        .map(|id| (id, customer_name(id), "CLIENTE"));
    agents.chain(supervisor).chain(customers)
}
