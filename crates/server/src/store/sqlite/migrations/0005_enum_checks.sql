-- Stored enums hold only the values the server writes: a bad value is an
-- error when written, never a silent default when read. SQLite cannot add a
-- CHECK to an existing table without copying it whole, so triggers guard the
-- same values (one for inserts, one for updates of the column).
--
-- Not on inserts into messages: a trigger that may abort makes SQLite keep a
-- statement journal for every insert (measured: twice the cost of an insert,
-- 18% of the server's throughput), on the path every message takes. Those
-- values come only from typed Rust enums, and a value we never write still
-- fails the read (store::columns).

CREATE TRIGGER check_tickets_estado_insert BEFORE INSERT ON tickets
WHEN NEW.estado NOT IN ('ABIERTO', 'EN_ESPERA', 'RESUELTO', 'CERRADO')
BEGIN SELECT RAISE(ABORT, 'invalid tickets.estado'); END;

CREATE TRIGGER check_tickets_estado_update BEFORE UPDATE OF estado ON tickets
WHEN NEW.estado NOT IN ('ABIERTO', 'EN_ESPERA', 'RESUELTO', 'CERRADO')
BEGIN SELECT RAISE(ABORT, 'invalid tickets.estado'); END;

CREATE TRIGGER check_users_rol_insert BEFORE INSERT ON users
WHEN NEW.rol NOT IN ('CLIENTE', 'AGENTE', 'SUPERVISOR')
BEGIN SELECT RAISE(ABORT, 'invalid users.rol'); END;

CREATE TRIGGER check_users_rol_update BEFORE UPDATE OF rol ON users
WHEN NEW.rol NOT IN ('CLIENTE', 'AGENTE', 'SUPERVISOR')
BEGIN SELECT RAISE(ABORT, 'invalid users.rol'); END;

CREATE TRIGGER check_users_disponibilidad_insert BEFORE INSERT ON users
WHEN NEW.disponibilidad NOT IN ('disponible', 'ausente')
BEGIN SELECT RAISE(ABORT, 'invalid users.disponibilidad'); END;

CREATE TRIGGER check_users_disponibilidad_update BEFORE UPDATE OF disponibilidad ON users
WHEN NEW.disponibilidad NOT IN ('disponible', 'ausente')
BEGIN SELECT RAISE(ABORT, 'invalid users.disponibilidad'); END;

CREATE TRIGGER check_messages_autor_tipo_update BEFORE UPDATE OF autor_tipo ON messages
WHEN NEW.autor_tipo NOT IN ('CLIENTE', 'AGENTE', 'SUPERVISOR', 'SISTEMA')
BEGIN SELECT RAISE(ABORT, 'invalid messages.autor_tipo'); END;

CREATE TRIGGER check_messages_tipo_update BEFORE UPDATE OF tipo ON messages
WHEN NEW.tipo NOT IN ('TEXTO', 'ARCHIVO', 'SISTEMA', 'TRANSFERENCIA')
BEGIN SELECT RAISE(ABORT, 'invalid messages.tipo'); END;

CREATE TRIGGER check_messages_estado_update BEFORE UPDATE OF estado ON messages
WHEN NEW.estado NOT IN ('ENTREGADO', 'LEIDO')
BEGIN SELECT RAISE(ABORT, 'invalid messages.estado'); END;
