-- Stored enums hold only the values the server writes: a bad value is an
-- error when written, never a silent default when read.

ALTER TABLE tickets ADD CONSTRAINT tickets_estado_known CHECK (estado IN ('ABIERTO', 'EN_ESPERA', 'RESUELTO', 'CERRADO'));
ALTER TABLE users ADD CONSTRAINT users_rol_known CHECK (rol IN ('CLIENTE', 'AGENTE', 'SUPERVISOR'));
ALTER TABLE users ADD CONSTRAINT users_disponibilidad_known CHECK (disponibilidad IN ('disponible', 'ausente'));
ALTER TABLE messages ADD CONSTRAINT messages_autor_tipo_known CHECK (autor_tipo IN ('CLIENTE', 'AGENTE', 'SUPERVISOR', 'SISTEMA'));
ALTER TABLE messages ADD CONSTRAINT messages_tipo_known CHECK (tipo IN ('TEXTO', 'ARCHIVO', 'SISTEMA', 'TRANSFERENCIA'));
ALTER TABLE messages ADD CONSTRAINT messages_estado_known CHECK (estado IN ('ENTREGADO', 'LEIDO'));
