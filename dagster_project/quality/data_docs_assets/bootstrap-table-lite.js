/*
 * bootstrap-table-lite: the part of bootstrap-table's jQuery API that the Great Expectations Data Docs use.
 *
 * Written for this project, because bootstrap-table (which GX loads from a CDN) is published on no PyPI
 * package, and the index page's tables exist only as JSON until a script draws them.
 * dagster_project/quality/data_docs_offline.py puts this file in the site in bootstrap-table's place.
 *
 * Covered: $(table).bootstrapTable({columns, data, ...}) and tables written in HTML with data-toggle="table";
 * the search box, sortable columns (sortName, sortOrder, a column's own sortName), pagination, per-column
 * filters (filterControl "select", "input" and "datepicker", the last as the browser's date input;
 * filterDataCollector, filterCustomSearch), rowStyle, rowAttributes, the toolbar option, the
 * click-row.bs.table event and the methods "clearFilterControl" and "resetSearch".
 * Any other option or method is ignored: the table still shows every row.
 */
(function ($) {
  "use strict";

  var INSTANCE_KEY = "bootstrapTableLite";
  var DEFAULT_PAGE_SIZE = 10;
  var PAGE_SIZES = [10, 25, 50, 100];
  var DEFAULT_CLASSES = "table table-bordered table-hover";

  function isTrue(value) {
    return value === true || String(value).toLowerCase() === "true";
  }

  // Options name callbacks by the name of a global function (GX writes them as strings).
  function callable(value) {
    if (typeof value === "function") {
      return value;
    }
    if (typeof value === "string" && typeof window[value] === "function") {
      return window[value];
    }
    return null;
  }

  function textOf(html) {
    if (html === null || html === undefined) {
      return "";
    }
    var holder = document.createElement("div");
    holder.innerHTML = String(html);
    return (holder.textContent || "").replace(/\s+/g, " ").trim();
  }

  function compareValues(left, right) {
    var leftNumber = typeof left === "number" ? left : Number(left);
    var rightNumber = typeof right === "number" ? right : Number(right);
    var bothNumbers = left !== "" && right !== "" && !isNaN(leftNumber) && !isNaN(rightNumber);
    if (bothNumbers) {
      return leftNumber - rightNumber;
    }
    return String(left === undefined || left === null ? "" : left).localeCompare(
      String(right === undefined || right === null ? "" : right),
      undefined,
      { numeric: true }
    );
  }

  function LiteTable(table, options) {
    this.$table = $(table);
    this.options = options;
    this.searchText = "";
    this.filters = {};
    this.page = 1;
    this.pageSize = Number(options.pageSize) || DEFAULT_PAGE_SIZE;
    this.paginated = isTrue(options.pagination);
    this.sortColumn = null;
    this.sortDescending = String(options.sortOrder).toLowerCase() === "desc";

    this.fromMarkup = !(options.columns && options.columns.length);
    if (!this.fromMarkup) {
      this.columns = options.columns.slice();
      this.rows = this.rowsFromData(options.data || []);
    } else {
      this.columns = this.columnsFromMarkup();
      this.rows = this.rowsFromMarkup();
    }
    if (options.sortName) {
      for (var index = 0; index < this.columns.length; index++) {
        if (this.columns[index].field === options.sortName) {
          this.sortColumn = index;
        }
      }
    }
    this.build();
    this.refresh();
  }

  LiteTable.prototype.rowsFromData = function (data) {
    var self = this;
    var rowStyle = callable(this.options.rowStyle);
    var rowAttributes = callable(this.options.rowAttributes);
    return $.map(data, function (record, index) {
      var $row = $("<tr>").attr("data-index", index);
      $.each(self.columns, function (_, column) {
        var value = record[column.field];
        var $cell = $("<td>").html(value === undefined || value === null ? "" : String(value));
        if (column.align) {
          $cell.css("text-align", column.align);
        }
        $row.append($cell);
      });
      if (rowStyle) {
        var style = rowStyle(record, index) || {};
        if (style.css) {
          $row.css(style.css);
        }
        if (style.classes) {
          $row.addClass(style.classes);
        }
      }
      if (rowAttributes) {
        $.each(rowAttributes(record, index) || {}, function (name, value) {
          if (name === "class") {
            $row.addClass(value);
          } else {
            $row.attr(name, value);
          }
        });
      }
      return { record: record, index: index, $row: $row };
    });
  };

  LiteTable.prototype.columnsFromMarkup = function () {
    return this.$table
      .children("thead")
      .children("tr")
      .last()
      .children("th")
      .map(function () {
        return { title: $(this).html(), sortable: isTrue($(this).attr("data-sortable")) };
      })
      .get();
  };

  LiteTable.prototype.rowsFromMarkup = function () {
    return this.$table
      .children("tbody")
      .children("tr")
      .map(function (index) {
        return { record: null, index: index, $row: $(this) };
      })
      .get();
  };

  // What a row holds in a column: for searching and filtering (text) and for sorting (sortName's value).
  LiteTable.prototype.cellText = function (row, columnIndex) {
    if (row.record) {
      return textOf(row.record[this.columns[columnIndex].field]);
    }
    return textOf(row.$row.children().eq(columnIndex).html());
  };

  LiteTable.prototype.sortValue = function (row, columnIndex) {
    var column = this.columns[columnIndex];
    if (row.record) {
      var value = row.record[column.sortName || column.field];
      return typeof value === "number" ? value : textOf(value);
    }
    return this.cellText(row, columnIndex);
  };

  LiteTable.prototype.filterValue = function (row, columnIndex) {
    var column = this.columns[columnIndex];
    var collector = callable(column.filterDataCollector);
    if (collector && row.record) {
      var value = row.record[column.field];
      return String(collector(value, row.record, textOf(value)));
    }
    return this.cellText(row, columnIndex);
  };

  LiteTable.prototype.build = function () {
    var self = this;
    var options = this.options;
    this.$table.addClass(options.classes || DEFAULT_CLASSES);

    var $wrapper = $('<div class="bootstrap-table bootstrap4">');
    var $toolbar = $('<div class="fixed-table-toolbar">');
    var $container = $('<div class="fixed-table-container">');
    var $body = $('<div class="fixed-table-body">');
    this.$table.before($wrapper);
    $wrapper.append($toolbar, $container.append($body.append(this.$table)));
    $wrapper.after('<div class="clearfix"></div>');

    if (options.toolbar && $(options.toolbar).length) {
      var align = options.toolbarAlign === "right" ? "float-right" : "float-left";
      $toolbar.append($('<div class="bs-bars">').addClass(align).append($(options.toolbar)));
    }
    if (isTrue(options.search)) {
      this.$search = $('<input class="form-control search-input" type="search" placeholder="Search">');
      this.$search.on("input", function () {
        self.searchText = $(this).val();
        self.page = 1;
        self.refresh();
      });
      var $searchBox = $('<div class="float-right search btn-group">').append(this.$search);
      if (isTrue(options.showSearchClearButton)) {
        $searchBox.append(
          $('<button class="btn btn-secondary" type="button" title="Clear search">Clear</button>').on(
            "click",
            function () {
              self.resetSearch();
            }
          )
        );
      }
      $toolbar.append($searchBox);
    }

    this.buildHeader();
    if (!this.$table.children("tbody").length) {
      this.$table.append("<tbody></tbody>");
    }
    this.$tbody = this.$table.children("tbody");
    // Rows of tables nested in a cell carry no row data: only the table's own rows are reported.
    this.$tbody.on("click", "tr", function (event) {
      var row = $(this).data(INSTANCE_KEY + "Row");
      if (row) {
        self.$table.trigger("click-row.bs.table", [row.record, $(this), $(event.target).closest("td").index()]);
      }
    });
    $.each(this.rows, function (_, row) {
      row.$row.data(INSTANCE_KEY + "Row", row);
    });

    if (this.paginated) {
      this.$pagination = $('<div class="fixed-table-pagination">');
      $wrapper.append(this.$pagination);
    }
  };

  LiteTable.prototype.buildHeader = function () {
    var self = this;
    var $headRow;
    if (this.fromMarkup) {
      $headRow = this.$table.children("thead").children("tr").last();
    } else {
      this.$table.children("thead").remove();
      $headRow = $("<tr>");
      $.each(this.columns, function (_, column) {
        $headRow.append($("<th>").attr("data-field", column.field).html(column.title || ""));
      });
      this.$table.prepend($("<thead>").append($headRow));
    }
    this.$headers = $headRow.children("th");
    this.$headers.each(function (columnIndex) {
      var column = self.columns[columnIndex] || {};
      var $th = $(this);
      var $inner = $('<div class="th-inner">').append($th.contents());
      $th.append($inner);
      if (column.align) {
        $th.css("text-align", column.align);
      }
      if (isTrue(column.sortable)) {
        $inner.addClass("sortable both").on("click", function () {
          if (self.sortColumn === columnIndex) {
            self.sortDescending = !self.sortDescending;
          } else {
            self.sortColumn = columnIndex;
            self.sortDescending = false;
          }
          self.refresh();
        });
      }
      if (isTrue(self.options.filterControl) && column.filterControl) {
        $th.append($('<div class="fht-cell">').append($('<div class="filter-control">').append(self.filterInput(columnIndex))));
      }
    });
  };

  LiteTable.prototype.filterInput = function (columnIndex) {
    var self = this;
    var kind = String(this.columns[columnIndex].filterControl).toLowerCase();
    var $input;
    if (kind === "select") {
      var values = {};
      $.each(this.rows, function (_, row) {
        values[self.filterValue(row, columnIndex)] = true;
      });
      $input = $('<select class="form-control form-control-sm"><option value=""></option></select>');
      $.each(Object.keys(values).sort(compareValues), function (_, value) {
        $input.append($("<option>").val(value).text(value));
      });
    } else if (kind === "datepicker") {
      $input = $('<input class="form-control form-control-sm date-filter-control" type="date">');
    } else {
      $input = $('<input class="form-control form-control-sm" type="search">');
    }
    $input.attr("data-filter-kind", kind).on("input change", function () {
      self.filters[columnIndex] = $(this).val();
      self.page = 1;
      self.refresh();
    });
    // A click in a filter must not sort the column.
    $input.on("click", function (event) {
      event.stopPropagation();
    });
    return $input;
  };

  LiteTable.prototype.matches = function (row) {
    var self = this;
    var search = this.searchText.toLowerCase();
    if (search) {
      var found = false;
      for (var index = 0; index < this.columns.length && !found; index++) {
        found = this.cellText(row, index).toLowerCase().indexOf(search) !== -1;
      }
      if (!found) {
        return false;
      }
    }
    var kept = true;
    $.each(this.filters, function (columnIndex, wanted) {
      if (!wanted || !kept) {
        return;
      }
      var column = self.columns[columnIndex];
      var kind = String(column.filterControl).toLowerCase();
      var custom = callable(column.filterCustomSearch);
      if (custom && row.record) {
        kept = Boolean(custom(wanted, row.record[column.field], column.field, self.options.data));
      } else if (kind === "select") {
        kept = self.filterValue(row, columnIndex) === wanted;
      } else {
        kept = self.cellText(row, columnIndex).toLowerCase().indexOf(String(wanted).toLowerCase()) !== -1;
      }
    });
    return kept;
  };

  LiteTable.prototype.refresh = function () {
    var self = this;
    var visible = $.grep(this.rows, function (row) {
      return self.matches(row);
    });
    if (this.sortColumn !== null) {
      var direction = this.sortDescending ? -1 : 1;
      visible.sort(function (left, right) {
        var order = compareValues(self.sortValue(left, self.sortColumn), self.sortValue(right, self.sortColumn));
        return order === 0 ? left.index - right.index : direction * order;
      });
    }
    this.$headers.children(".th-inner.sortable").removeClass("asc desc").addClass("both");
    if (this.sortColumn !== null) {
      this.$headers
        .eq(this.sortColumn)
        .children(".th-inner.sortable")
        .removeClass("both")
        .addClass(this.sortDescending ? "desc" : "asc");
    }

    var shown = visible;
    var pageCount = 1;
    if (this.paginated) {
      pageCount = Math.max(1, Math.ceil(visible.length / this.pageSize));
      this.page = Math.min(Math.max(1, this.page), pageCount);
      shown = visible.slice((this.page - 1) * this.pageSize, this.page * this.pageSize);
    }

    $.each(this.rows, function (_, row) {
      row.$row.detach();
    });
    this.$tbody.children("tr.no-records-found").remove();
    if (!shown.length) {
      this.$tbody.append(
        $('<tr class="no-records-found">').append(
          $("<td>").attr("colspan", this.columns.length || 1).text("No matching records found")
        )
      );
    }
    $.each(shown, function (_, row) {
      self.$tbody.append(row.$row);
    });
    if (this.paginated) {
      this.renderPagination(visible.length, pageCount);
    }
  };

  LiteTable.prototype.renderPagination = function (total, pageCount) {
    var self = this;
    var first = total ? (this.page - 1) * this.pageSize + 1 : 0;
    var last = Math.min(total, this.page * this.pageSize);
    var $sizes = $('<select class="form-control form-control-sm d-inline-block w-auto ml-2">');
    $.each(PAGE_SIZES, function (_, size) {
      $sizes.append($("<option>").val(size).text(size).prop("selected", size === self.pageSize));
    });
    $sizes.on("change", function () {
      self.pageSize = Number($(this).val());
      self.page = 1;
      self.refresh();
    });
    var $detail = $('<div class="float-left pagination-detail">').append(
      $('<span class="pagination-info">').text("Showing " + first + " to " + last + " of " + total + " rows"),
      $sizes,
      $("<span>").text(" rows per page")
    );

    var $pages = $('<ul class="pagination pagination-sm">');
    function pageItem(label, page, disabled, active) {
      var $link = $('<a class="page-link" href="#">').text(label);
      $link.on("click", function (event) {
        event.preventDefault();
        if (!disabled && !active) {
          self.page = page;
          self.refresh();
        }
      });
      return $('<li class="page-item">').toggleClass("disabled", disabled).toggleClass("active", active).append($link);
    }
    $pages.append(pageItem("\u2039", this.page - 1, this.page === 1, false));
    for (var page = 1; page <= pageCount; page++) {
      // Far from the current page, only the first and the last are shown.
      var near = Math.abs(page - this.page) <= 2 || page === 1 || page === pageCount;
      if (near) {
        $pages.append(pageItem(String(page), page, false, page === this.page));
      } else if (Math.abs(page - this.page) === 3) {
        $pages.append(pageItem("\u2026", page, true, false));
      }
    }
    $pages.append(pageItem("\u203a", this.page + 1, this.page === pageCount, false));

    this.$pagination.empty().append($detail, $('<div class="float-right pagination">').append($pages));
    this.$pagination.toggle(total > PAGE_SIZES[0] || pageCount > 1);
  };

  LiteTable.prototype.clearFilterControl = function () {
    this.filters = {};
    this.$headers.find(".filter-control").children("input, select").val("");
    this.page = 1;
    this.refresh();
  };

  LiteTable.prototype.resetSearch = function () {
    this.searchText = "";
    if (this.$search) {
      this.$search.val("");
    }
    this.page = 1;
    this.refresh();
  };

  $.fn.bootstrapTable = function (optionsOrMethod) {
    return this.each(function () {
      var $table = $(this);
      var instance = $table.data(INSTANCE_KEY);
      if (typeof optionsOrMethod === "string") {
        if (instance && typeof instance[optionsOrMethod] === "function") {
          instance[optionsOrMethod]();
        }
        return;
      }
      if (instance) {
        return;
      }
      var options = $.extend({}, $table.data(), optionsOrMethod || {});
      $table.data(INSTANCE_KEY, new LiteTable(this, options));
    });
  };

  $(function () {
    $('[data-toggle="table"]').bootstrapTable();
  });
})(jQuery);
