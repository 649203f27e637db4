/* Result rows as the backends hand them to store.c: copies of every value,
 * so that the engine's own result can be released at once. */
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"

rt_code rt_store_rows_add(rt_store_rows *rows, size_t n_cols, rt_err *err) {
  if (rows->n_rows > 0 && rows->n_cols != n_cols)
    return rt_err_set(err, RT_E_INTERNAL, "store: rows of different widths");
  size_t n = (rows->n_rows + 1) * n_cols;
  rt_store_cell *cells = realloc(rows->cells, (n > 0 ? n : 1) * sizeof *cells);
  if (cells == NULL)
    return rt_err_set(err, RT_E_NOMEM, "store: out of memory");
  memset(cells + rows->n_rows * n_cols, 0, n_cols * sizeof *cells);
  for (size_t i = 0; i < n_cols; i++)
    cells[rows->n_rows * n_cols + i].null = true;
  rows->cells = cells;
  rows->n_cols = n_cols;
  rows->n_rows++;
  return RT_OK;
}

rt_code rt_store_cell_set(rt_store_cell *cell, const void *bytes, size_t len, rt_err *err) {
  uint8_t *copy = malloc(len + 1);
  if (copy == NULL)
    return rt_err_set(err, RT_E_NOMEM, "store: out of memory");
  if (len > 0)
    memcpy(copy, bytes, len);
  copy[len] = 0;
  free(cell->bytes);
  cell->bytes = copy;
  cell->len = len;
  cell->null = false;
  return RT_OK;
}

rt_store_cell *rt_store_cell_at(const rt_store_rows *rows, size_t row, size_t col) {
  if (row >= rows->n_rows || col >= rows->n_cols)
    return NULL;
  return &rows->cells[row * rows->n_cols + col];
}

void rt_store_rows_free(rt_store_rows *rows) {
  if (rows == NULL)
    return;
  for (size_t i = 0; i < rows->n_rows * rows->n_cols; i++)
    free(rows->cells[i].bytes);
  free(rows->cells);
  memset(rows, 0, sizeof *rows);
}
