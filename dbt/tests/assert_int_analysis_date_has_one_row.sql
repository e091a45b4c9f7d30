-- Every "as of" reads one analysis date: int_analysis_date has exactly one row.

select count(*) as row_count
from {{ ref('int_analysis_date') }}
having count(*) != 1
