-- Sorting sales by amount pages by (amount_cents, id) without sorting the whole table.
CREATE INDEX sales_amount_idx ON sales (amount_cents, id);
